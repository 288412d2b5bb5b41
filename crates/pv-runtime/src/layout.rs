//! Where everything lives: the storage directory (spec §3), the run
//! directory and the runtime's own volatile state next to it.
//!
//! The run directory holds what the original keeps in its run dir and
//! nothing else, because a mgmt container sees all of it at `/pantavisor`:
//! the control and log sockets, the Hub hints, the metadata views and the
//! `logs` mount point. Volume mount points, `_config` overlays and
//! container work dirs live in `<run dir>.internal` (`internal`).

use std::path::{Path, PathBuf};

/// Paths of a device.
#[derive(Debug, Clone)]
pub struct Layout {
    pub storage: PathBuf,
    pub rundir: PathBuf,
    /// The runtime's volatile state, beside the run dir (`<run dir>.internal`).
    pub internal: PathBuf,
    /// Mount points of container volumes (`/volumes` in the original).
    pub voldir: PathBuf,
}

impl Layout {
    pub fn new(storage: &Path, rundir: &Path) -> Layout {
        let mut name = rundir
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| "pv".into());
        name.push(".internal");
        let internal = rundir.with_file_name(name);
        Layout {
            storage: storage.to_path_buf(),
            rundir: rundir.to_path_buf(),
            voldir: internal.join("volumes"),
            internal,
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
        self.internal.join("configs")
    }
    /// Per-container scratch dirs (spec, pid file, rootfs mount point).
    pub fn containers(&self) -> PathBuf {
        self.internal.join("containers")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_state_is_beside_the_run_dir() {
        let l = Layout::new(Path::new("/s"), Path::new("/x/run"));
        assert_eq!(l.internal, Path::new("/x/run.internal"));
        assert_eq!(l.voldir, Path::new("/x/run.internal/volumes"));
        assert!(!l.containers().starts_with(&l.rundir));
        assert!(!l.configs().starts_with(&l.rundir));
        let l = Layout::new(Path::new("/s"), Path::new("/x/run/"));
        assert_eq!(l.internal, Path::new("/x/run.internal"));
    }
}
