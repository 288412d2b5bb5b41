//! `pvr export` and `pvr import`: the `.pvrexport.tgz` format.
//!
//! An export is a tar stream (gzip-compressed when the file name ends in
//! `.gz`/`.tgz`) whose first member is `json` (the canonical state) and whose
//! other members are `objects/<sha256>`, one per object-valued key.

use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use pv_fs::{AtomicFile, IoResultExt};
use pv_types::{ObjectId, State};

use crate::parts::Parts;
use crate::{Error, Repo, Result};
use pv_export::{read_export, ExportContent};

/// True if `name` asks for gzip (`.gz`, `.tgz`, any case).
pub fn wants_gzip(name: &str) -> bool {
    let l = name.to_ascii_lowercase();
    l.ends_with(".gz") || l.ends_with(".tgz")
}

/// Write `state` (already filtered to the wanted parts) and its objects as
/// a tar stream to `w`.
pub fn write_tar(repo: &Repo, state: &State, w: impl Write) -> Result<()> {
    let mut tar = tar::Builder::new(w);
    let json = state.to_canonical();
    let mut h = tar::Header::new_gnu();
    h.set_size(json.len() as u64);
    h.set_mode(0o600);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, "json", &json[..])
        .map_err(|e| Error::Other(format!("write export: {e}")))?;
    for (_, id) in state.objects() {
        let p = repo.objects.path(&id);
        let f = repo.objects.open_raw(&id)?;
        let md = f.metadata().at("stat", &p)?;
        let mut h = tar::Header::new_gnu();
        h.set_size(md.len());
        h.set_mode(md.mode() & 0o7777);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        // verify while streaming: a corrupt pool object must not be exported
        let mut reader = VerifyingReader::new(f, id, p.clone());
        tar.append_data(&mut h, format!("objects/{id}"), &mut reader)
            .map_err(|e| Error::Other(format!("export {}: {e}", p.display())))?;
        reader.check()?;
    }
    tar.into_inner()
        .map_err(|e| Error::Other(format!("write export: {e}")))?
        .flush()
        .ok();
    Ok(())
}

/// `pvr export [--parts …] <file|->`: `-` writes a plain tar to stdout;
/// a file is written atomically.
pub fn export(repo: &Repo, parts: &Parts, dest: &str) -> Result<State> {
    let state = parts.without_dropped(&parts.select(&repo.pristine()?));
    if dest == "-" {
        let out = io::stdout().lock();
        write_tar(repo, &state, out)?;
        return Ok(state);
    }
    let path = Path::new(dest);
    let file = AtomicFile::create(path)?;
    if wants_gzip(dest) {
        let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
        write_tar(repo, &state, &mut gz)?;
        let file = gz.finish().at("write", path)?;
        file.commit()?;
    } else {
        let mut file = file;
        write_tar(repo, &state, &mut file)?;
        file.commit()?;
    }
    Ok(state)
}

/// `pvr import <file>`: verify the export completely (every object hashed,
/// every referenced object present, the state valid), then make its state
/// the committed state. A bad export changes nothing in the checkout; the
/// verified objects it carried may stay in the pool.
pub fn import(repo: &Repo, file: &Path) -> Result<State> {
    let ExportContent { state, .. } = read_export(file, &repo.objects)?;
    // pvr writes the member with its tar mode (0600)
    let target = repo.pvr_dir().join("json");
    let mut f = AtomicFile::create_with_mode(&target, 0o600)?;
    f.write_all(&state.to_canonical()).at("write", &target)?;
    f.commit()?;
    Ok(state)
}

struct VerifyingReader<R> {
    inner: R,
    hasher: pv_objects::HashingWriter<io::Sink>,
    id: ObjectId,
    path: std::path::PathBuf,
}

impl<R: Read> VerifyingReader<R> {
    fn new(inner: R, id: ObjectId, path: std::path::PathBuf) -> Self {
        VerifyingReader {
            inner,
            hasher: pv_objects::HashingWriter::new(io::sink()),
            id,
            path,
        }
    }
    fn check(self) -> Result<()> {
        let (actual, _, _) = self.hasher.finish();
        if actual != self.id {
            return Err(pv_objects::ObjectError::Mismatch {
                path: self.path,
                expected: self.id,
                actual,
            }
            .into());
        }
        Ok(())
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.write_all(&buf[..n])?;
        Ok(n)
    }
}
