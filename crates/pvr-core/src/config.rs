//! `.pvr/config` and the global pvr config directory.

use std::path::PathBuf;

pub use pv_export::{absolute, RepoConfig};

/// The global config directory: `$PVR_CONFIG_DIR`, else `~/.pvr`.
pub fn default_config_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("PVR_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"));
    home.join(".pvr")
}
