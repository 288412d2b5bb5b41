//! The disks of the running revision (spec §5.11) on this device: the
//! state's `/storage/…` paths land in the storage directory, mount points
//! under `<rundir>.internal/media`, crypt keys come from the revision's `bsp/` (or
//! a key generated on first use, kept in `<storage>/config`).

use tracing::error;

use crate::layout::Layout;
use crate::model::{Persistence, RevisionModel, VolumeDef};
use crate::{Error, Result};

/// The disks of revision `rev`; swap disks are set up now.
pub fn open(layout: &Layout, rev: &str, model: &RevisionModel) -> pv_disks::Disks {
    let env = pv_disks::DiskEnv {
        storage: layout.storage.clone(),
        media: layout.internal.join("media"),
        key_dirs: vec![layout.trail(rev).join("bsp")],
        key_store: layout.config_dir(),
        zram: pv_disks::ZramSys::default(),
        zram_lock: pv_disks::ZRAM_LOCK.into(),
    };
    let defs = pv_disks::parse(
        model.device_json.as_ref(),
        model.disks_json.as_ref(),
        &layout.storage,
    )
    .unwrap_or_else(|e| {
        // model::parse checked the same definitions
        error!("{e}");
        vec![]
    });
    let mut disks = pv_disks::Disks::new(env, defs).with_record(record(layout));
    if let Err(e) = disks.start_swaps() {
        error!("{e}");
    }
    disks
}

/// Where the disks set up are recorded (volatile, beside the run dir).
fn record(layout: &Layout) -> std::path::PathBuf {
    layout.internal.join("disks.json")
}

/// Tear down the disks a runtime that died left set up (swap on, crypt
/// disks open, zram volumes mounted).
pub fn reap(layout: &Layout) {
    pv_disks::reap(&record(layout), &pv_disks::ZramSys::default());
}

/// Where volume `v` of container `part` lives when it is on a disk (its
/// own, or the default disk); `None` for the storage's own places.
pub fn volume_dir(
    disks: &mut pv_disks::Disks,
    v: &VolumeDef,
    rev: &str,
    part: &str,
) -> Result<Option<std::path::PathBuf>> {
    let p = match v.persistence {
        Persistence::Permanent => pv_disks::Persistence::Permanent,
        Persistence::Revision => pv_disks::Persistence::Revision,
        Persistence::Boot => pv_disks::Persistence::Boot,
    };
    disks
        .volume_dir(v.disk.as_deref(), p, rev, part, &v.name)
        .map_err(|source| Error::Disk {
            container: part.to_string(),
            source,
        })
}
