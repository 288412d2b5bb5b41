//! Many new files made durable together, the way git's
//! `core.fsyncMethod=batch` does it: each file's writeback is started as
//! soon as it is written (`sync_file_range`, no disk-cache flush), and one
//! flush at the end makes all of them durable at once, before any of them
//! gets its final name.
//!
//! The crash guarantee is the same as one [`crate::AtomicFile::commit`] per
//! file: a file that exists under its final name is complete.
//! 1. [`start_writeback`] after writing: the kernel starts writing the
//!    data out (and allocates its blocks), without waiting.
//! 2. [`publish`]: wait until every file's writeback has completed, then
//!    one flush: an fsync of a fresh marker file, which commits the
//!    filesystem journal holding every earlier allocation and flushes the
//!    disk cache (ext4, xfs). On other filesystems, where one file's fsync
//!    says nothing about another's, a `syncfs` of the filesystem instead.
//! 3. The renames, then one fsync per directory.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::OnceLock;

use crate::atomic::{parent_of, temp_path_for};
use crate::{fsync_dir, FsError, IoResultExt, PendingRename};

/// `sync_file_range` on a whole file.
#[allow(unsafe_code)] // one plain syscall on an fd we own; no memory is shared
fn sync_range(f: &File, flags: libc::c_uint) -> std::io::Result<()> {
    // SAFETY: the fd is valid for the lifetime of `f`; the call takes no pointers
    let r = unsafe { libc::sync_file_range(f.as_raw_fd(), 0, 0, flags) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Start writing `f`'s dirty pages to the device, without a disk-cache
/// flush, so that [`publish`] finds them (mostly) written. The call is
/// made by a background thread: submitting writeback blocks when the
/// device queue is full, and the writer (hashing, copying) must not wait
/// for that. When the thread is behind, the file is left to the kernel's
/// own writeback; [`publish`] makes the data durable either way.
pub fn start_writeback(f: &File) {
    static QUEUE: OnceLock<Option<SyncSender<File>>> = OnceLock::new();
    let queue = QUEUE.get_or_init(|| {
        let (tx, rx) = sync_channel::<File>(64);
        std::thread::Builder::new()
            .name("pv-fs-writeback".into())
            .spawn(move || {
                for f in rx {
                    let _ = sync_range(&f, libc::SYNC_FILE_RANGE_WRITE);
                }
            })
            .ok()
            .map(|_| tx)
    });
    match (queue, f.try_clone()) {
        (Some(tx), Ok(dup)) => {
            let _ = tx.try_send(dup);
        }
        _ => {
            let _ = sync_range(f, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
}

/// Wait until every page of a pending file has been written to the device
/// (starting writeback of any that were not yet).
fn wait_writeback(p: &PendingRename) -> Result<(), FsError> {
    let path = p.tmp_path();
    let reopened;
    let f = match p.kept_file() {
        Some(f) => f,
        None => {
            reopened = File::open(path).at("open", path)?;
            &reopened
        }
    };
    sync_range(
        f,
        libc::SYNC_FILE_RANGE_WAIT_BEFORE
            | libc::SYNC_FILE_RANGE_WRITE
            | libc::SYNC_FILE_RANGE_WAIT_AFTER,
    )
    .at("sync_file_range", path)
}

/// Descriptors of pending files kept open, at most a quarter of the
/// process's limit; beyond that a pending file is reopened to wait for it.
static KEPT: AtomicUsize = AtomicUsize::new(0);

fn kept_budget() -> usize {
    static BUDGET: OnceLock<usize> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        let lim = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        lim.current.map_or(4096, |n| (n / 4) as usize)
    })
}

/// An open temp file counted against the budget.
#[derive(Debug)]
pub(crate) struct KeptFile(File);

impl KeptFile {
    /// Keep `f` open if the budget allows (else it is closed).
    pub(crate) fn keep(f: File) -> Option<KeptFile> {
        if KEPT.fetch_add(1, Ordering::Relaxed) < kept_budget() {
            Some(KeptFile(f))
        } else {
            KEPT.fetch_sub(1, Ordering::Relaxed);
            None
        }
    }

    pub(crate) fn file(&self) -> &File {
        &self.0
    }
}

impl Drop for KeptFile {
    fn drop(&mut self) {
        KEPT.fetch_sub(1, Ordering::Relaxed);
    }
}

/// True if one fsync commits every earlier metadata change of the
/// filesystem (a single ordered journal), so that a flush through any
/// file is a flush for all of them.
fn single_journal(dir: &Path) -> Result<bool, FsError> {
    let f = File::open(dir).at("open directory", dir)?;
    let st = rustix::fs::fstatfs(&f).map_err(|e| FsError::new("statfs", dir, e.into()))?;
    // ext4, xfs, tmpfs (statfs(2) magic numbers)
    const SINGLE_JOURNAL: [u64; 3] = [0xEF53, 0x5846_5342, 0x0102_1994];
    #[allow(clippy::unnecessary_cast)] // f_type's width differs by platform
    let magic = st.f_type as u64;
    Ok(SINGLE_JOURNAL.contains(&magic))
}

/// One flush that makes every file whose writeback has completed durable:
/// create and fsync a marker in `dir`, then remove it.
fn flush_through_marker(dir: &Path) -> Result<(), FsError> {
    let marker = temp_path_for(&dir.join("flush"));
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&marker)
        .at("create", &marker)?;
    let r = f.sync_all().at("fsync", &marker);
    drop(f);
    let _ = fs::remove_file(&marker);
    r
}

/// Make every pending file durable with one flush, then give each its
/// final name and fsync the directories. All temp files must be on the
/// same filesystem as `dir` (e.g. one object pool). On error nothing has
/// been renamed yet unless the error comes from a rename itself.
pub fn publish(dir: &Path, pending: Vec<PendingRename>) -> Result<(), FsError> {
    if pending.is_empty() {
        return Ok(());
    }
    crate::fault::point("batch:before-flush");
    if single_journal(dir)? {
        for p in &pending {
            wait_writeback(p)?;
        }
        flush_through_marker(dir)?;
    } else {
        crate::syncfs(dir)?;
    }
    crate::fault::point("batch:before-rename");
    let mut dirs = BTreeSet::new();
    for p in pending {
        dirs.insert(parent_of(p.target()).to_path_buf());
        // two temps for the same content: the second rename replaces the
        // first with identical bytes
        p.rename()?;
    }
    crate::fault::point("batch:before-dir-sync");
    for d in dirs {
        fsync_dir(&d)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AtomicFile;
    use std::io::Write;

    #[test]
    fn publish_renames_everything_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let mut pending = vec![];
        for i in 0..20 {
            let mut f = AtomicFile::create(d.path().join(format!("f{i}"))).unwrap();
            f.write_all(format!("content {i}").as_bytes()).unwrap();
            pending.push(f.finish_writeback());
        }
        // nothing is visible under a final name before publish
        assert!(!d.path().join("f0").exists());
        publish(d.path(), pending).unwrap();
        let mut names: Vec<String> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names.len(), 20, "{names:?}");
        assert!(names.iter().all(|n| !crate::is_temp_name(n)));
        assert_eq!(fs::read(d.path().join("f7")).unwrap(), b"content 7");
        publish(d.path(), vec![]).unwrap();
    }

    #[test]
    fn a_missing_temp_fails_before_any_rename() {
        let d = tempfile::tempdir().unwrap();
        let mut a = AtomicFile::create(d.path().join("a")).unwrap();
        a.write_all(b"a").unwrap();
        let a = a.finish_writeback();
        // closed without writeback: publish reopens it to wait, and fails
        let b = AtomicFile::create(d.path().join("b"))
            .unwrap()
            .finish_unsynced();
        fs::remove_file(b.tmp_path()).unwrap();
        if single_journal(d.path()).unwrap() {
            let e = publish(d.path(), vec![a, b]).unwrap_err();
            assert!(e.to_string().contains(".b"), "{e}");
            assert!(!d.path().join("a").exists());
        }
    }
}
