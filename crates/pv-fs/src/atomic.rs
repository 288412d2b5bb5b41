use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{FsError, IoResultExt};

/// Every temp file made by this crate has this marker in its name, so that a
/// janitor can find and remove leftovers of an interrupted write.
pub const TEMP_MARKER: &str = ".pvtmp-";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// True if `name` is a temp file left by [`AtomicFile`].
pub fn is_temp_name(name: &str) -> bool {
    name.contains(TEMP_MARKER)
}

pub(crate) fn temp_path_for(target: &Path) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = target
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let pid = *PID.get_or_init(std::process::id);
    target.with_file_name(format!(".{name}{TEMP_MARKER}{pid}-{n}"))
}

pub(crate) fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// fsync a directory so that a rename or create inside it is durable.
pub fn fsync_dir(dir: &Path) -> Result<(), FsError> {
    let f = File::open(dir).at("open directory", dir)?;
    f.sync_all().at("fsync directory", dir)
}

/// A file being written that becomes visible at its target path only on
/// [`AtomicFile::commit`]. Dropping it uncommitted removes the temp file.
#[derive(Debug)]
pub struct AtomicFile {
    file: Option<File>,
    tmp: PathBuf,
    target: PathBuf,
}

impl AtomicFile {
    /// Start writing a file that will replace `target` (mode 0644).
    pub fn create(target: impl AsRef<Path>) -> Result<Self, FsError> {
        Self::create_with_mode(target, 0o644)
    }

    /// Start writing a file that will replace `target`, created with `mode`
    /// (subject to the umask).
    pub fn create_with_mode(target: impl AsRef<Path>, mode: u32) -> Result<Self, FsError> {
        let target = target.as_ref().to_path_buf();
        let tmp = temp_path_for(&target);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .at("create", &tmp)?;
        Ok(AtomicFile {
            file: Some(file),
            tmp,
            target,
        })
    }

    /// The open temp file (read and write), e.g. for `io::copy` to use
    /// in-kernel copies, or to read back what was written.
    pub fn file_mut(&mut self) -> &mut File {
        self.file.as_mut().expect("open until commit")
    }

    /// The path that the file will have once committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// fsync the data, rename over the target, fsync the directory.
    pub fn commit(mut self) -> Result<(), FsError> {
        let label = crate::fault::label(&self.target);
        let file = self.file.take().expect("file present until commit");
        crate::fault::point(&format!("write:{label}:before-sync"));
        file.sync_all().at("fsync", &self.tmp)?;
        drop(file);
        crate::fault::point(&format!("write:{label}:before-rename"));
        fs::rename(&self.tmp, &self.target).at("rename into", &self.target)?;
        crate::fault::point(&format!("write:{label}:before-dir-sync"));
        fsync_dir(parent_of(&self.target))?;
        crate::fault::point(&format!("write:{label}:done"));
        Ok(())
    }

    /// Like [`AtomicFile::commit`] but leaves the directory fsync to the
    /// caller, who batches many files in one directory (see [`fsync_dir`]).
    pub fn commit_no_dir_sync(mut self) -> Result<(), FsError> {
        let file = self.file.take().expect("file present until commit");
        file.sync_all().at("fsync", &self.tmp)?;
        drop(file);
        fs::rename(&self.tmp, &self.target).at("rename into", &self.target)
    }
}

/// A fully written temp file whose data is not yet known to be durable.
/// Used for batches: write many files, then [`crate::publish`] them (one
/// flush, the renames, the directory fsyncs).
#[derive(Debug)]
pub struct PendingRename {
    tmp: PathBuf,
    target: PathBuf,
    /// The temp file, kept open (within a budget of descriptors) so that
    /// waiting for its writeback needs no second open.
    file: Option<crate::batch::KeptFile>,
}

impl PendingRename {
    /// Move the temp file to its target (no fsync: see [`syncfs`]).
    pub fn rename(mut self) -> Result<(), FsError> {
        crate::fault::point(&format!("rename:{}", crate::fault::label(&self.target)));
        self.file.take();
        let tmp = std::mem::take(&mut self.tmp);
        fs::rename(&tmp, &self.target).at("rename into", &self.target)
    }

    /// fsync the temp file's data (for a single file outside a batch).
    pub fn sync(&self) -> Result<(), FsError> {
        let f = File::open(&self.tmp).at("open", &self.tmp)?;
        f.sync_all().at("fsync", &self.tmp)
    }

    /// Point the rename at another target (used when the name is only known
    /// once the content has been written, e.g. a content hash).
    pub fn retarget(mut self, target: PathBuf) -> Self {
        self.target = target;
        self
    }

    /// The final path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Where the bytes are until the rename.
    pub fn tmp_path(&self) -> &Path {
        &self.tmp
    }

    /// The temp file if it was kept open.
    pub(crate) fn kept_file(&self) -> Option<&File> {
        self.file.as_ref().map(|k| k.file())
    }
}

impl Drop for PendingRename {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Flush every dirty page of the filesystem that holds `path`.
pub fn syncfs(path: &Path) -> Result<(), FsError> {
    crate::fault::point("syncfs");
    let f = File::open(path).at("open", path)?;
    rustix::fs::syncfs(&f).map_err(|e| FsError::new("syncfs", path, e.into()))
}

impl AtomicFile {
    /// Close the temp file after starting its writeback, for a batch made
    /// durable by [`crate::publish`].
    pub fn finish_writeback(mut self) -> PendingRename {
        let kept = self.file.take().and_then(|f| {
            crate::batch::start_writeback(&f);
            crate::batch::KeptFile::keep(f)
        });
        let mut p = self.finish_unsynced();
        p.file = kept;
        p
    }

    /// Close the temp file without syncing it; the caller makes it durable
    /// (see [`PendingRename`]).
    pub fn finish_unsynced(mut self) -> PendingRename {
        self.file.take();
        PendingRename {
            tmp: std::mem::take(&mut self.tmp),
            target: std::mem::take(&mut self.target),
            file: None,
        }
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.as_mut().expect("open").write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().expect("open").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Durably replace `path` with `data`.
pub fn write_atomic(path: impl AsRef<Path>, data: &[u8]) -> Result<(), FsError> {
    let path = path.as_ref();
    let mut f = AtomicFile::create(path)?;
    f.write_all(data).at("write", path)?;
    f.commit()
}

/// Replace `path` with `data` atomically (readers see the old or the new
/// content, never a mix) but without making it durable: for volatile files
/// (the run dir, a tmpfs on a device) that are rebuilt at every boot and
/// need no fsync barrier.
pub fn write_replace(path: impl AsRef<Path>, data: &[u8]) -> Result<(), FsError> {
    let path = path.as_ref();
    let mut f = AtomicFile::create(path)?;
    f.write_all(data).at("write", path)?;
    f.finish_unsynced().rename()
}

/// Durably copy the content of `src` to `dst` (replacing it).
pub fn copy_atomic(src: &Path, dst: &Path) -> Result<u64, FsError> {
    let mut input = File::open(src).at("open", src)?;
    let mut out = AtomicFile::create(dst)?;
    let n = copy_stream(&mut input, &mut out, src, dst)?;
    out.commit()?;
    Ok(n)
}

fn copy_stream(
    r: &mut impl Read,
    w: &mut impl Write,
    src: &Path,
    dst: &Path,
) -> Result<u64, FsError> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = r.read(&mut buf).at("read", src)?;
        if n == 0 {
            return Ok(total);
        }
        w.write_all(&buf[..n]).at("write", dst)?;
        total += n as u64;
    }
}

/// Rename `from` to `to` and fsync the directories involved.
pub fn rename_durable(from: &Path, to: &Path) -> Result<(), FsError> {
    crate::fault::point(&format!("rename:{}", crate::fault::label(to)));
    fs::rename(from, to).at("rename into", to)?;
    fsync_dir(parent_of(to))?;
    if parent_of(from) != parent_of(to) {
        fsync_dir(parent_of(from))?;
    }
    Ok(())
}

/// Remove a file (if present) and fsync its directory.
pub fn remove_durable(path: &Path) -> Result<(), FsError> {
    match fs::remove_file(path) {
        Ok(()) => fsync_dir(parent_of(path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(FsError::new("remove", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_replaces_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn volatile_replace_swaps_content_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("view");
        write_replace(&p, b"old").unwrap();
        write_replace(&p, b"new").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
        let missing = d.path().join("no/such/dir/file");
        let e = write_replace(&missing, b"x").unwrap_err();
        assert!(e.to_string().contains("no/such/dir"), "{e}");
    }

    #[test]
    fn dropped_file_leaves_target_untouched() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x");
        write_atomic(&p, b"old").unwrap();
        {
            let mut f = AtomicFile::create(&p).unwrap();
            f.write_all(b"half").unwrap();
        }
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn errors_name_the_path() {
        let err = write_atomic("/nonexistent-dir/x/y", b"a").unwrap_err();
        assert!(err.to_string().contains("/nonexistent-dir/x"), "{err}");
    }

    #[test]
    fn temp_names_are_recognised() {
        let t = temp_path_for(Path::new("/a/b.json"));
        assert!(is_temp_name(t.file_name().unwrap().to_str().unwrap()));
        assert!(!is_temp_name("b.json"));
    }
}
