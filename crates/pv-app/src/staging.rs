//! Building an app next to its final place, so that a failure changes
//! nothing in the checkout.
//!
//! Everything is written under `<checkout>/.<name>.pvtmp-app-<pid>-<n>/`
//! (the `.pvtmp-` marker of [`pv_fs::TEMP_MARKER`] lets a janitor find
//! leftovers of a killed run); scratch data (unpacked rootfs, downloads)
//! lives in its `.scratch/` and is removed first. A new app directory is
//! then renamed into place whole; for an existing app each new file is
//! renamed over the old one.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use pv_fs::IoResultExt;

use crate::error::Result;
use crate::rootfs_build::remove_tree;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A staging directory, removed on drop unless committed.
pub struct Staging {
    dir: PathBuf,
    done: bool,
}

impl Staging {
    /// A fresh staging directory beside `app_dir`.
    pub fn new(app_dir: &Path) -> Result<Self> {
        let parent = app_dir.parent().unwrap_or(Path::new("."));
        let base = app_dir
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = parent.join(format!(
            ".{base}{}app-{}-{n}",
            pv_fs::TEMP_MARKER,
            std::process::id()
        ));
        fs::create_dir(&dir).at("create directory", &dir)?;
        fs::create_dir(dir.join(".scratch")).at("create directory", &dir)?;
        Ok(Staging { dir, done: false })
    }

    /// Where final files go.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where temporary data goes (never committed).
    pub fn scratch(&self) -> PathBuf {
        self.dir.join(".scratch")
    }

    fn drop_scratch(&self) {
        remove_tree(&self.scratch());
    }

    /// Rename the whole staging directory to `app_dir` (which must not exist).
    pub fn commit_new(mut self, app_dir: &Path) -> Result<()> {
        self.drop_scratch();
        pv_fs::fsync_dir(&self.dir)?;
        pv_fs::rename_durable(&self.dir, app_dir)?;
        self.done = true;
        Ok(())
    }

    /// Move each staged file into the existing `app_dir`, remove the files
    /// named in `remove`, then delete the staging directory.
    pub fn commit_into(self, app_dir: &Path, remove: &[&str]) -> Result<()> {
        self.drop_scratch();
        let mut names: Vec<_> = fs::read_dir(&self.dir)
            .at("read directory", &self.dir)?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for name in names {
            let from = self.dir.join(&name);
            let to = app_dir.join(&name);
            fs::rename(&from, &to).at("rename into", &to)?;
        }
        for r in remove {
            let p = app_dir.join(r);
            if p.exists() {
                fs::remove_file(&p).at("remove", &p)?;
            }
        }
        pv_fs::fsync_dir(app_dir)?;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        remove_tree(&self.dir);
    }
}
