//! `PV_SYSCTL_<PATH>` (and legacy `sysctl.<a.b.c>`) keys and their mapping
//! to `/proc/sys` paths. This crate never writes `/proc`; the runtime
//! writes each [`SysctlSetting`] to its [`SysctlSetting::path`].

use std::path::{Path, PathBuf};

use crate::level::Level;

const PREFIX: &str = "PV_SYSCTL_";
const LEGACY_PREFIX: &str = "sysctl.";
const PROC_SYS: &str = "/proc/sys";

/// One effective sysctl setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysctlSetting {
    /// Normalized key: `PV_SYSCTL_KERNEL_CORE_PATTERN` or `sysctl.vm.x`.
    pub key: String,
    /// The value to write.
    pub value: String,
    /// The level that set it.
    pub level: Level,
}

impl SysctlSetting {
    /// The `/proc/sys` file, resolved against the running kernel's tree.
    pub fn path(&self) -> Option<PathBuf> {
        sysctl_path(&self.key, |p| p.is_dir())
    }
}

/// If `name` is a sysctl key, its normalized form (canonical keys upper
/// case, legacy keys as written).
pub fn normalize(name: &str) -> Option<String> {
    if name.len() > PREFIX.len()
        && name.is_char_boundary(PREFIX.len())
        && name[..PREFIX.len()].eq_ignore_ascii_case(PREFIX)
    {
        return Some(format!(
            "{PREFIX}{}",
            name[PREFIX.len()..].to_ascii_uppercase()
        ));
    }
    if name.len() > LEGACY_PREFIX.len() && name.starts_with(LEGACY_PREFIX) {
        return Some(name.to_string());
    }
    None
}

/// Map a sysctl key to its `/proc/sys` path.
///
/// Legacy `sysctl.a.b` maps dots to slashes. For `PV_SYSCTL_A_B_C` the rest
/// is lower-cased and each `_` becomes `/` exactly when the path built so
/// far is a directory (`is_dir`), so `PV_SYSCTL_KERNEL_CORE_PATTERN` gives
/// `/proc/sys/kernel/core_pattern`. Pure: the directory test is passed in.
pub fn sysctl_path(key: &str, is_dir: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    let norm = normalize(key)?;
    if let Some(rest) = norm.strip_prefix(LEGACY_PREFIX) {
        return Some(PathBuf::from(format!(
            "{PROC_SYS}/{}",
            rest.replace('.', "/")
        )));
    }
    let rest = norm[PREFIX.len()..].to_ascii_lowercase();
    let mut path = format!("{PROC_SYS}/");
    for c in rest.chars() {
        if c == '_' && is_dir(Path::new(&path)) {
            path.push('/');
        } else {
            path.push(c);
        }
    }
    Some(PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_dirs(p: &Path) -> bool {
        [
            "/proc/sys/kernel",
            "/proc/sys/net",
            "/proc/sys/net/ipv4",
            "/proc/sys/vm",
        ]
        .iter()
        .any(|d| Path::new(d) == p)
    }

    #[test]
    fn canonical_keys_follow_directories() {
        let p = sysctl_path("PV_SYSCTL_KERNEL_CORE_PATTERN", fake_dirs).unwrap();
        assert_eq!(p, Path::new("/proc/sys/kernel/core_pattern"));
        let p = sysctl_path("pv_sysctl_net_ipv4_ip_forward", fake_dirs).unwrap();
        assert_eq!(p, Path::new("/proc/sys/net/ipv4/ip_forward"));
        let p = sysctl_path("PV_SYSCTL_VM_WATERMARK_BOOST_FACTOR", fake_dirs).unwrap();
        assert_eq!(p, Path::new("/proc/sys/vm/watermark_boost_factor"));
    }

    #[test]
    fn legacy_keys_map_dots() {
        let p = sysctl_path("sysctl.vm.watermark_boost_level", fake_dirs).unwrap();
        assert_eq!(p, Path::new("/proc/sys/vm/watermark_boost_level"));
    }

    #[test]
    fn non_sysctl_keys() {
        assert_eq!(sysctl_path("PV_SYSCTL_", fake_dirs), None);
        assert_eq!(sysctl_path("PV_LOG_LEVEL", fake_dirs), None);
        assert_eq!(normalize("sysctl."), None);
        assert_eq!(
            normalize("pv_sysctl_kernel_x").as_deref(),
            Some("PV_SYSCTL_KERNEL_X")
        );
    }
}
