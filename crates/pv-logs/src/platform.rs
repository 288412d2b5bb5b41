//! Who sent a message: the peer's pid (`SO_PEERCRED`) is mapped to a
//! platform name through its cgroup.

use std::path::{Path, PathBuf};

/// Platform name used for the runtime's own messages.
pub const PANTAVISOR_PLATFORM: &str = "pantavisor";
/// Platform name used when the sender cannot be identified.
pub const UNKNOWN_PLATFORM: &str = "unknown-platform";

/// Maps a peer process to the platform (container) it belongs to. The
/// runtime can plug its own mapping (e.g. from its container table).
pub trait PlatformResolver: Send + Sync + 'static {
    /// The platform of process `pid`: `Some("pantavisor")` for the host,
    /// a container name, or `None` if unknown.
    fn platform_of(&self, pid: u32) -> Option<String>;
}

/// Where the peer of a cgroup line lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupOwner {
    /// The root cgroup (`/`, or `/..` as seen from a cgroup namespace).
    Host,
    /// An LXC container cgroup `/lxc/<name>`.
    Container(String),
}

/// Interpret the content of `/proc/<pid>/cgroup`: the host for the root
/// cgroup, the container for `/lxc/<name>[/...]` (or LXC 4's
/// `/lxc.payload.<name>`). The unified (`0::`) line wins over v1 lines. With
/// `strip_numeric_suffix`, a trailing `-<digits>` is removed from the name
/// (appengine's LXC names containers `name-N`).
pub fn owner_from_cgroup(content: &str, strip_numeric_suffix: bool) -> Option<CgroupOwner> {
    let mut fallback = None;
    for line in content.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(_), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let owner = if path == "/" || path == "/.." {
            Some(CgroupOwner::Host)
        } else {
            container_of(path, strip_numeric_suffix).map(CgroupOwner::Container)
        };
        if id == "0" && owner.is_some() {
            return owner;
        }
        if fallback.is_none() {
            fallback = owner;
        }
    }
    fallback
}

fn container_of(path: &str, strip: bool) -> Option<String> {
    let rest = if let Some(idx) = path.find("/lxc/") {
        &path[idx + 5..]
    } else {
        let idx = path.find("/lxc.payload.")?;
        &path[idx + 13..]
    };
    let name = rest.split('/').next()?;
    if name.is_empty() {
        return None;
    }
    if strip {
        if let Some((base, digits)) = name.rsplit_once('-') {
            if !base.is_empty() && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
            {
                return Some(base.to_string());
            }
        }
    }
    Some(name.to_string())
}

/// The default resolver: reads `<proc>/<pid>/cgroup`.
#[derive(Debug, Clone)]
pub struct CgroupResolver {
    proc_root: PathBuf,
    strip_numeric_suffix: bool,
}

impl CgroupResolver {
    /// Read from `/proc`; `appengine` strips `-<digits>` name suffixes.
    pub fn new(appengine: bool) -> Self {
        Self::with_proc_root("/proc", appengine)
    }

    /// Read from another proc root (tests).
    pub fn with_proc_root(proc_root: impl AsRef<Path>, appengine: bool) -> Self {
        CgroupResolver {
            proc_root: proc_root.as_ref().to_path_buf(),
            strip_numeric_suffix: appengine,
        }
    }
}

impl Default for CgroupResolver {
    fn default() -> Self {
        CgroupResolver::new(false)
    }
}

impl PlatformResolver for CgroupResolver {
    fn platform_of(&self, pid: u32) -> Option<String> {
        let path = self.proc_root.join(pid.to_string()).join("cgroup");
        let content = std::fs::read_to_string(path).ok()?;
        match owner_from_cgroup(&content, self.strip_numeric_suffix)? {
            CgroupOwner::Host => Some(PANTAVISOR_PLATFORM.to_string()),
            CgroupOwner::Container(name) => Some(name),
        }
    }
}

/// A resolver that gives every peer the same answer (tests, or a runtime
/// that does not care).
#[derive(Debug, Clone)]
pub struct FixedResolver(pub Option<String>);

impl PlatformResolver for FixedResolver {
    fn platform_of(&self, _pid: u32) -> Option<String> {
        self.0.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_lines() {
        assert_eq!(owner_from_cgroup("0::/\n", false), Some(CgroupOwner::Host));
        assert_eq!(owner_from_cgroup("0::/..\n", true), Some(CgroupOwner::Host));
        assert_eq!(
            owner_from_cgroup("0::/lxc/app1/init.scope\n", false),
            Some(CgroupOwner::Container("app1".into()))
        );
        assert_eq!(
            owner_from_cgroup("0::/lxc/app-1-12\n", true),
            Some(CgroupOwner::Container("app-1".into()))
        );
        assert_eq!(
            owner_from_cgroup("0::/lxc/app-12\n", false),
            Some(CgroupOwner::Container("app-12".into()))
        );
        assert_eq!(
            owner_from_cgroup("12:cpu:/lxc/old\n0::/lxc.payload.x/sub\n", false),
            Some(CgroupOwner::Container("x".into()))
        );
        assert_eq!(
            owner_from_cgroup("12:cpu:/lxc/old\n0::/elsewhere\n", false),
            Some(CgroupOwner::Container("old".into()))
        );
        assert_eq!(owner_from_cgroup("0::/user.slice/x\n", false), None);
    }

    #[test]
    fn resolver_reads_proc() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("42")).unwrap();
        std::fs::write(d.path().join("42/cgroup"), "0::/lxc/web-3\n").unwrap();
        let r = CgroupResolver::with_proc_root(d.path(), true);
        assert_eq!(r.platform_of(42), Some("web".into()));
        assert_eq!(r.platform_of(43), None);
        std::fs::create_dir_all(d.path().join("1")).unwrap();
        std::fs::write(d.path().join("1/cgroup"), "0::/\n").unwrap();
        assert_eq!(r.platform_of(1), Some(PANTAVISOR_PLATFORM.into()));
    }
}
