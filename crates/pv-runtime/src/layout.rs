//! Where everything lives: the storage directory (spec §3) and the run
//! directory.

use std::path::{Path, PathBuf};

/// Paths of a device.
#[derive(Debug, Clone)]
pub struct Layout {
    pub storage: PathBuf,
    pub rundir: PathBuf,
    /// Mount points of container volumes (`/volumes` in the original).
    pub voldir: PathBuf,
}

impl Layout {
    pub fn new(storage: &Path, rundir: &Path) -> Layout {
        Layout {
            storage: storage.to_path_buf(),
            rundir: rundir.to_path_buf(),
            voldir: rundir.join("volumes"),
        }
    }
    pub fn objects(&self) -> PathBuf {
        self.storage.join("objects")
    }
    pub fn trails(&self) -> PathBuf {
        self.storage.join("trails")
    }
    /// `trails/<rev>` (`rev` may be `locals/<name>`).
    pub fn trail(&self, rev: &str) -> PathBuf {
        self.trails().join(rev)
    }
    pub fn logs(&self) -> PathBuf {
        self.storage.join("logs")
    }
    pub fn boot(&self) -> PathBuf {
        self.storage.join("boot")
    }
    pub fn disks(&self) -> PathBuf {
        self.storage.join("disks")
    }
    pub fn cache(&self) -> PathBuf {
        self.storage.join("cache")
    }
    pub fn config_dir(&self) -> PathBuf {
        self.storage.join("config")
    }
    /// Per-container `_config` overlays.
    pub fn configs(&self) -> PathBuf {
        self.rundir.join("configs")
    }
    /// Per-container scratch dirs (spec, pid file, rootfs mount point).
    pub fn containers(&self) -> PathBuf {
        self.rundir.join("containers")
    }
    /// The cgroup directory this device's containers live in
    /// (`<hierarchy>/<base>/<container>`): unique per storage directory, so
    /// two devices on one host never touch each other's containers.
    pub fn cgroup_base(&self) -> String {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.storage.hash(&mut h);
        format!("pantavisor-{:08x}", h.finish() as u32)
    }

    /// Create the directories every start needs.
    pub fn create(&self) -> Result<(), pv_fs::FsError> {
        for d in [
            self.objects(),
            self.trails(),
            self.logs(),
            self.boot(),
            self.disks(),
            self.cache(),
            self.config_dir(),
        ] {
            std::fs::create_dir_all(&d)
                .map_err(|e| pv_fs::FsError::new("create directory", &d, e))?;
        }
        for d in [
            self.rundir.clone(),
            self.voldir.clone(),
            self.configs(),
            self.containers(),
            self.rundir.join("logs"),
        ] {
            std::fs::create_dir_all(&d)
                .map_err(|e| pv_fs::FsError::new("create directory", &d, e))?;
        }
        Ok(())
    }
}

/// True if `rev` is a valid revision name: a decimal number, or
/// `locals/<name>` with a name of at most 64 characters and no `/`.
pub fn valid_revision(rev: &str) -> bool {
    if let Some(name) = rev.strip_prefix("locals/") {
        return !name.is_empty()
            && name.len() <= 64
            && !name.contains('/')
            && name != "."
            && name != "..";
    }
    !rev.is_empty() && rev.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    #[test]
    fn revision_names() {
        for ok in ["0", "12", "locals/t1"] {
            assert!(super::valid_revision(ok), "{ok}");
        }
        for bad in [
            "",
            "current",
            "locals",
            "locals/",
            "locals/a/b",
            "../x",
            "1a",
            &format!("locals/{}", "x".repeat(65)),
        ] {
            assert!(!super::valid_revision(bad), "{bad}");
        }
    }
}
