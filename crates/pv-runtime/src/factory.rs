//! First start on an empty storage: revision 0 from a pvr checkout or an
//! export, marked DONE "Factory revision".

use std::path::Path;

use pv_objects::ObjectStore;

use crate::layout::Layout;
use crate::progress::{self, Progress};
use crate::{trail, Error, Result};

/// True if the storage has no revision yet.
pub fn is_empty(layout: &Layout) -> bool {
    std::fs::read_dir(layout.trails())
        .map(|rd| {
            rd.flatten()
                .all(|e| e.file_name().to_string_lossy().contains(pv_fs::TEMP_MARKER))
        })
        .unwrap_or(true)
}

/// Seed revision 0 from `source`: a pvr checkout (a directory with
/// `.pvr/`), a bare repository, or a `.pvrexport.tgz`. Objects are
/// verified into the storage pool; the state must be a complete,
/// coherent revision.
pub fn seed(layout: &Layout, source: &Path) -> Result<()> {
    let pool = ObjectStore::open(layout.objects())?;
    let state_text = if source.is_dir() {
        let bare = if source.join(".pvr").is_dir() {
            source.join(".pvr")
        } else {
            source.to_path_buf()
        };
        let (state, from) = pv_export::read_bare(&bare).map_err(|e| Error::Factory {
            path: source.to_path_buf(),
            source: Box::new(e),
        })?;
        for id in state.object_ids() {
            if !pool.contains(&id) {
                let f = from.open_raw(&id)?;
                pool.put_reader(f, Some(&id), &from.path(&id))?;
            }
        }
        state.to_canonical()
    } else {
        let c = pv_export::read_export(source, &pool).map_err(|e| Error::Factory {
            path: source.to_path_buf(),
            source: Box::new(e),
        })?;
        c.state.to_canonical()
    };
    let state = pv_types::State::from_slice(&state_text).map_err(|e| Error::FactoryState {
        path: source.to_path_buf(),
        source: e,
    })?;
    state.validate().map_err(|e| Error::FactoryInvalid {
        path: source.to_path_buf(),
        source: e,
    })?;
    trail::install(layout, "0", &state_text, &pool)?;
    progress::write(layout, "0", &Progress::new("DONE", "Factory revision"))?;
    progress::mark_done(layout, "0")?;
    Ok(())
}
