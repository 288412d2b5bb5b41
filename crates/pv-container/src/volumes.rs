//! Host-side volumes of a container, mounted under `<voldir>/<name>/`
//! before it starts (status MOUNTED) and unmounted when it stops.

use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use serde::{Deserialize, Serialize};

use crate::loopdev::LoopDevice;
use crate::mounts;
use crate::Result;

/// Where a volume's content comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum VolumeSource {
    /// A filesystem image (squashfs, ext4, …) mounted read-only through a loop device.
    Image { path: PathBuf, fstype: String },
    /// A directory bound read-write (permanent and revision persistence).
    Dir(PathBuf),
    /// A fresh tmpfs (boot persistence).
    Tmpfs,
}

/// Mount one volume on `target` (created if missing).
pub fn mount_volume(source: &VolumeSource, target: &Path) -> Result<()> {
    mounts::ensure_target(target, false)?;
    match source {
        VolumeSource::Image { path, fstype } => {
            let dev = LoopDevice::attach_read_only(path)?;
            mounts::mount_fs(
                &dev.path().to_string_lossy(),
                target,
                fstype,
                MsFlags::MS_RDONLY | MsFlags::MS_NODEV | MsFlags::MS_NOSUID,
                None,
            )?;
            // dropping `dev` is fine: the mount holds the device, which
            // detaches by itself once unmounted (auto-clear)
            drop(dev);
        }
        VolumeSource::Dir(dir) => {
            mounts::ensure_target(dir, false)?;
            mounts::bind(dir, target, false)?;
        }
        VolumeSource::Tmpfs => {
            mounts::mount_fs(
                "tmpfs",
                target,
                "tmpfs",
                MsFlags::MS_NODEV | MsFlags::MS_NOSUID,
                Some("mode=0755"),
            )?;
        }
    }
    Ok(())
}

/// Unmount every volume of a container (everything under `dir`).
pub fn unmount_all(dir: &Path) -> Result<()> {
    mounts::unmount_all_under(dir)
}

/// The filesystem type of an image, from its file extension (`root.squashfs` → squashfs).
pub fn fstype_of(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("squashfs")
        .to_string()
}
