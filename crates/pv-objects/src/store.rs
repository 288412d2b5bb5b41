use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use pv_fs::{AtomicFile, FsError, IoResultExt, PendingRename};
use pv_types::ObjectId;
use rayon::prelude::*;

use crate::{hash_reader, HashingWriter, ObjectError};

/// One ingested file: its id and, if it was new, the rename that publishes it.
type Ingested = (ObjectId, Option<PendingRename>);

/// A flat directory of objects named by their sha256.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    dir: PathBuf,
}

/// One file to add to the store by [`ObjectStore::ingest`].
#[derive(Debug, Clone)]
pub struct IngestItem {
    /// Where the bytes are.
    pub src: PathBuf,
    /// The id the bytes must hash to, if known (e.g. from `pvr add`).
    pub expected: Option<ObjectId>,
}

/// What an ingestion did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IngestStats {
    /// Objects written.
    pub written: usize,
    /// Objects that were already present.
    pub present: usize,
    /// Bytes written.
    pub bytes: u64,
}

impl ObjectStore {
    /// Open (creating if needed) the store at `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, FsError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).at("create directory", &dir)?;
        Ok(ObjectStore { dir })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where object `id` lives (whether or not it exists).
    pub fn path(&self, id: &ObjectId) -> PathBuf {
        self.dir.join(id.to_hex())
    }

    /// True if the store has a file for `id` (its content is not checked).
    pub fn contains(&self, id: &ObjectId) -> bool {
        self.path(id).is_file()
    }

    /// Store `data`, durably.
    pub fn put_bytes(&self, data: &[u8]) -> Result<ObjectId, ObjectError> {
        let id = ObjectId::of(data);
        if !self.contains(&id) {
            pv_fs::write_atomic(self.path(&id), data)?;
        }
        Ok(id)
    }

    /// Stream `r` into the store, durably. With `expected`, the content must
    /// hash to it, otherwise nothing is stored. `what` names the source in
    /// errors.
    pub fn put_reader(
        &self,
        r: impl Read,
        expected: Option<&ObjectId>,
        what: &Path,
    ) -> Result<ObjectId, ObjectError> {
        // a batch of one: the data is durable before the name appears
        let b = self.batch();
        let id = b.put_reader(r, expected, what)?;
        b.publish()?;
        Ok(id)
    }

    /// Copy a file into the store, durably.
    pub fn put_file(
        &self,
        src: &Path,
        expected: Option<&ObjectId>,
    ) -> Result<ObjectId, ObjectError> {
        let f = File::open(src).at("open", src)?;
        self.put_reader(f, expected, src)
    }

    /// Add many files at once: copied and hashed in parallel, made durable
    /// together with one flush ([`pv_fs::publish`]), then renamed into
    /// place. An object never has its final name before its bytes are
    /// durable.
    pub fn ingest(
        &self,
        items: &[IngestItem],
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<IngestStats, ObjectError> {
        let written = AtomicU64::new(0);
        let results: Vec<Result<Option<Ingested>, ObjectError>> = items
            .par_iter()
            .map(|it| {
                if let Some(id) = &it.expected {
                    if self.contains(id) {
                        progress(0);
                        return Ok(None);
                    }
                }
                let (id, pending, len) =
                    self.write_temp_from_file(&it.src, it.expected.as_ref())?;
                if pending.is_some() {
                    written.fetch_add(len, Ordering::Relaxed);
                    progress(len);
                }
                Ok(Some((id, pending)))
            })
            .collect();
        let mut pending = vec![];
        let mut stats = IngestStats::default();
        for r in results {
            match r? {
                Some((_, Some(p))) => pending.push(p),
                _ => stats.present += 1,
            }
        }
        if pending.is_empty() {
            return Ok(stats);
        }
        stats.written = pending.len();
        let t = std::time::Instant::now();
        pv_fs::publish(&self.dir, pending)?;
        if std::env::var_os("PVR_TIMINGS").is_some() {
            eprintln!("timing: publish: {:.3}s", t.elapsed().as_secs_f64());
        }
        stats.bytes = written.into_inner();
        Ok(stats)
    }

    /// Write `r` to a temp file in the store, hashing as it goes. Returns the
    /// id and, unless the object is already present, the pending rename.
    pub(crate) fn write_temp(
        &self,
        mut r: impl Read,
        expected: Option<&ObjectId>,
        what: &Path,
    ) -> Result<(ObjectId, Option<PendingRename>), ObjectError> {
        // name the temp after the expected id when known; else a neutral name
        let target_name = expected
            .map(|e| e.to_hex())
            .unwrap_or_else(|| "incoming".into());
        let tmp_target = self.dir.join(&target_name);
        let file = AtomicFile::create(&tmp_target)?;
        let mut w = HashingWriter::new(file);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(FsError::new("read", what, e).into()),
            };
            w.write_all(&buf[..n]).at("write", &tmp_target)?;
        }
        let (id, _, file) = w.finish();
        if let Some(e) = expected {
            if *e != id {
                return Err(ObjectError::Mismatch {
                    path: what.to_path_buf(),
                    expected: *e,
                    actual: id,
                });
            }
        }
        if expected.is_none() && self.contains(&id) {
            return Ok((id, None));
        }
        let pending = file.finish_writeback();
        let pending = if expected.is_none() {
            pending.retarget(self.path(&id))
        } else {
            pending
        };
        Ok((id, Some(pending)))
    }

    /// Like `write_temp` for a file source: the bytes are copied in the
    /// kernel (`copy_file_range`, a reflink where the filesystem can), then
    /// the copy itself is hashed, so what is stored is what is verified.
    /// Also returns the number of bytes copied.
    fn write_temp_from_file(
        &self,
        src: &Path,
        expected: Option<&ObjectId>,
    ) -> Result<(ObjectId, Option<PendingRename>, u64), ObjectError> {
        let mut input = File::open(src).at("open", src)?;
        let len = input.metadata().at("stat", src)?.len();
        let Some(expected) = expected else {
            let (id, pending) = self.write_temp(input, None, src)?;
            return Ok((id, pending, len));
        };
        let target = self.path(expected);
        let mut tmp = AtomicFile::create(&target)?;
        // the length known up front saves the calls that would find EOF; a
        // file that changed meanwhile fails the hash check below
        copy_in_kernel(&mut input, tmp.file_mut(), len).at("copy into", &target)?;
        let actual = hash_reader(ReadAt::new(tmp.file_mut(), len)).at("read back", &target)?;
        if actual != *expected {
            return Err(ObjectError::Mismatch {
                path: src.to_path_buf(),
                expected: *expected,
                actual,
            });
        }
        Ok((actual, Some(tmp.finish_writeback()), len))
    }

    /// Re-hash object `id` and check it.
    pub fn verify(&self, id: &ObjectId) -> Result<(), ObjectError> {
        let p = self.path(id);
        let f = self.open_raw(id)?;
        let actual = hash_reader(f).at("read", &p)?;
        if actual != *id {
            return Err(ObjectError::Mismatch {
                path: p,
                expected: *id,
                actual,
            });
        }
        Ok(())
    }

    /// Read the whole object, verified.
    pub fn read(&self, id: &ObjectId) -> Result<Vec<u8>, ObjectError> {
        let p = self.path(id);
        let data = match fs::read(&p) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ObjectError::Missing {
                    id: *id,
                    dir: self.dir.clone(),
                })
            }
            Err(e) => return Err(FsError::new("read", &p, e).into()),
        };
        let actual = ObjectId::of(&data);
        if actual != *id {
            return Err(ObjectError::Mismatch {
                path: p,
                expected: *id,
                actual,
            });
        }
        Ok(data)
    }

    /// Open the object's file for reading, unverified.
    pub fn open_raw(&self, id: &ObjectId) -> Result<File, ObjectError> {
        let p = self.path(id);
        match File::open(&p) {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ObjectError::Missing {
                id: *id,
                dir: self.dir.clone(),
            }),
            Err(e) => Err(FsError::new("open", &p, e).into()),
        }
    }

    /// Copy object `id` to `dest` (atomically replacing it), verifying the
    /// bytes on the way. A corrupt object leaves `dest` untouched.
    pub fn copy_out(&self, id: &ObjectId, dest: &Path) -> Result<(), ObjectError> {
        let mut src = self.open_raw(id)?;
        let out = AtomicFile::create(dest)?;
        let mut w = HashingWriter::new(out);
        io::copy(&mut src, &mut w).at("copy into", dest)?;
        let (actual, _, out) = w.finish();
        if actual != *id {
            return Err(ObjectError::Mismatch {
                path: self.path(id),
                expected: *id,
                actual,
            });
        }
        out.commit()?;
        Ok(())
    }

    /// Hard-link object `id` to `dest` (replacing it).
    pub fn link_out(&self, id: &ObjectId, dest: &Path) -> Result<(), ObjectError> {
        let src = self.path(id);
        if !src.is_file() {
            return Err(ObjectError::Missing {
                id: *id,
                dir: self.dir.clone(),
            });
        }
        match fs::remove_file(dest) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(FsError::new("remove", dest, e).into()),
        }
        fs::hard_link(&src, dest).at("hard link", dest)?;
        Ok(())
    }

    /// Every object id in the store (temp files and stray names ignored).
    pub fn list(&self) -> Result<Vec<ObjectId>, ObjectError> {
        let mut ids = vec![];
        for e in fs::read_dir(&self.dir).at("read directory", &self.dir)? {
            let e = e.at("read directory", &self.dir)?;
            if let Some(id) = e.file_name().to_str().and_then(|n| n.parse().ok()) {
                ids.push(id);
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Remove object `id`.
    pub fn remove(&self, id: &ObjectId) -> Result<(), ObjectError> {
        Ok(pv_fs::remove_durable(&self.path(id))?)
    }

    /// Remove temp files left by interrupted writes; returns how many.
    pub fn clean_temp(&self) -> Result<usize, ObjectError> {
        let mut n = 0;
        for e in fs::read_dir(&self.dir).at("read directory", &self.dir)? {
            let e = e.at("read directory", &self.dir)?;
            if e.file_name().to_str().is_some_and(pv_fs::is_temp_name) {
                fs::remove_file(e.path()).at("remove", &e.path())?;
                n += 1;
            }
        }
        Ok(n)
    }
}

/// Copy `len` bytes from `src` to `dst` in the kernel (`copy_file_range`;
/// a plain copy where the filesystem pair does not support it).
fn copy_in_kernel(src: &mut File, dst: &mut File, len: u64) -> io::Result<()> {
    let mut left = len;
    while left > 0 {
        let chunk = left.min(1 << 30) as usize;
        match rustix::fs::copy_file_range(&*src, None, &*dst, None, chunk) {
            Ok(0) => break,
            Ok(n) => left -= n as u64,
            Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::XDEV | rustix::io::Errno::NOSYS | rustix::io::Errno::INVAL) => {
                io::copy(&mut src.take(left), dst)?;
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Reads the first `len` bytes of a file by offset (no seek).
struct ReadAt<'a> {
    file: &'a File,
    pos: u64,
    len: u64,
}

impl<'a> ReadAt<'a> {
    fn new(file: &'a File, len: u64) -> Self {
        ReadAt { file, pos: 0, len }
    }
}

impl Read for ReadAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min((self.len - self.pos) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = std::os::unix::fs::FileExt::read_at(self.file, &mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ObjectStore) {
        let d = tempfile::tempdir().unwrap();
        let s = ObjectStore::open(d.path().join("objects")).unwrap();
        (d, s)
    }

    #[test]
    fn put_and_read_back() {
        let (_d, s) = store();
        let id = s.put_bytes(b"hello\n").unwrap();
        assert_eq!(
            id.to_hex(),
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
        );
        assert_eq!(s.read(&id).unwrap(), b"hello\n");
        assert_eq!(s.list().unwrap(), vec![id]);
    }

    #[test]
    fn expected_mismatch_stores_nothing() {
        let (d, s) = store();
        let src = d.path().join("f");
        fs::write(&src, b"abc").unwrap();
        let wrong = ObjectId::of(b"abd");
        let e = s.put_file(&src, Some(&wrong)).unwrap_err();
        assert!(matches!(e, ObjectError::Mismatch { .. }), "{e}");
        assert!(e.to_string().contains(src.to_str().unwrap()));
        assert_eq!(fs::read_dir(s.dir()).unwrap().count(), 0);
    }

    #[test]
    fn corrupt_object_is_caught_on_copy_out() {
        let (d, s) = store();
        let id = s.put_bytes(b"good").unwrap();
        fs::write(s.path(&id), b"evil").unwrap();
        let dest = d.path().join("out");
        fs::write(&dest, b"previous").unwrap();
        assert!(matches!(
            s.copy_out(&id, &dest),
            Err(ObjectError::Mismatch { .. })
        ));
        assert_eq!(fs::read(&dest).unwrap(), b"previous");
        assert!(s.verify(&id).is_err());
    }

    #[test]
    fn ingest_batches_and_dedups() {
        let (d, s) = store();
        let mut items = vec![];
        for i in 0..50 {
            let p = d.path().join(format!("f{i}"));
            fs::write(&p, format!("content {}", i % 10)).unwrap();
            let id = ObjectId::of(format!("content {}", i % 10).as_bytes());
            items.push(IngestItem {
                src: p,
                expected: Some(id),
            });
        }
        let st = s.ingest(&items, &|_| {}).unwrap();
        assert_eq!(st.written + st.present, 50);
        assert_eq!(s.list().unwrap().len(), 10);
        for id in s.list().unwrap() {
            s.verify(&id).unwrap();
        }
        assert_eq!(s.clean_temp().unwrap(), 0);
        let again = s.ingest(&items, &|_| {}).unwrap();
        assert_eq!(again.present, 50);
    }

    #[test]
    fn missing_object_is_named() {
        let (_d, s) = store();
        let e = s.read(&ObjectId::of(b"nope")).unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
    }
}
