//! Building `root.squashfs` with `mksquashfs` (Debian package
//! `squashfs-tools`), reproducibly.
//!
//! The original runs `mksquashfs <rootfs> <out> -comp xz -root-mode 0755`
//! (or the app's `format_options` split on spaces, then `-root-mode 0755`).
//! This adds `-noappend -no-progress` and fixes what would otherwise vary
//! between two builds of the same tree:
//!
//! * the superblock creation time: `-mkfs-time 0` (unless the caller's
//!   environment sets `SOURCE_DATE_EPOCH`, which mksquashfs then uses, or
//!   the format options set a time themselves);
//! * file order and inode numbers: mksquashfs sorts directory entries and,
//!   since 4.4, builds reproducibly by default (the parallel compressors
//!   do not change the output);
//! * file mtimes are kept as they are in the tree (for images: from the
//!   layers, directories without one get 0, see [`crate::layers`]);
//! * when not running as root, everything is owned by root (`-all-root`,
//!   as under the original's fakeroot) except what a pseudo file says
//!   (ownership and device nodes recorded from the layers).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{AppError, Result};

pub const SQUASH_FILE: &str = "root.squashfs";
pub const DOCKER_DIGEST_FILE: &str = "root.squashfs.docker-digest";
pub const ROOTFS_DIGEST_FILE: &str = "root.squashfs.rootfs-digest";
const DEFAULT_FORMAT: &str = "-comp xz";

/// Find a tool on `PATH`.
pub fn find_tool(tool: &'static str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join(tool);
        if p.is_file() {
            return Ok(p);
        }
    }
    for dir in ["/usr/sbin", "/sbin", "/usr/bin"] {
        let p = Path::new(dir).join(tool);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(AppError::MissingTool {
        tool,
        package: "squashfs-tools",
    })
}

/// The mksquashfs arguments after `<rootfs> <out>`.
pub fn mksquashfs_args(format_options: Option<&str>, pseudo: Option<&Path>) -> Vec<String> {
    let fmt = format_options
        .filter(|s| !s.trim().is_empty())
        .unwrap_or(DEFAULT_FORMAT);
    let mut args: Vec<String> = fmt
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    args.extend(["-root-mode".into(), "0755".into()]);
    args.extend(["-noappend".into(), "-no-progress".into()]);
    let sets_time = args
        .iter()
        .any(|a| a == "-mkfs-time" || a == "-fstime" || a == "-all-time");
    if !sets_time && std::env::var_os("SOURCE_DATE_EPOCH").is_none() {
        args.extend(["-mkfs-time".into(), "0".into()]);
    }
    // Unprivileged (the original re-runs itself under fakeroot, where every
    // file looks root-owned): root ownership, plus the pseudo definitions.
    if !rustix::process::geteuid().is_root() {
        args.push("-all-root".into());
    }
    if let Some(p) = pseudo {
        args.extend(["-pf".into(), p.display().to_string()]);
    }
    args
}

/// Build `out` from the directory `rootfs`.
pub fn build(
    rootfs: &Path,
    out: &Path,
    format_options: Option<&str>,
    pseudo: Option<&Path>,
) -> Result<()> {
    let tool = find_tool("mksquashfs")?;
    let output = Command::new(&tool)
        .arg(rootfs)
        .arg(out)
        .args(mksquashfs_args(format_options, pseudo))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| AppError::ToolFailed {
            tool: "mksquashfs",
            status: e.to_string(),
            output: out.to_path_buf(),
            stderr: String::new(),
        })?;
    if !output.status.success() {
        let mut msg = String::from_utf8_lossy(&output.stderr).trim().to_string();
        if msg.is_empty() {
            msg = String::from_utf8_lossy(&output.stdout).trim().to_string();
        }
        let tail: String = msg
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("; ");
        return Err(AppError::ToolFailed {
            tool: "mksquashfs",
            status: output.status.to_string(),
            output: out.to_path_buf(),
            stderr: tail,
        });
    }
    let f = std::fs::File::open(out).map_err(|e| pv_fs::FsError::new("open", out, e))?;
    f.sync_all()
        .map_err(|e| pv_fs::FsError::new("fsync", out, e))?;
    Ok(())
}

/// `unsquashfs -lln` of an image: one line per entry (for tests and tools).
pub fn list(image: &Path) -> Result<String> {
    let tool = find_tool("unsquashfs")?;
    let output = Command::new(tool)
        .arg("-lln")
        .arg(image)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| AppError::ToolFailed {
            tool: "unsquashfs",
            status: e.to_string(),
            output: image.to_path_buf(),
            stderr: String::new(),
        })?;
    if !output.status.success() {
        return Err(AppError::ToolFailed {
            tool: "unsquashfs",
            status: output.status.to_string(),
            output: image.to_path_buf(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_custom_format_options() {
        let a = mksquashfs_args(None, None);
        assert_eq!(&a[..4], ["-comp", "xz", "-root-mode", "0755"]);
        let a = mksquashfs_args(Some("-comp gzip  -b 131072"), None);
        assert_eq!(
            &a[..6],
            ["-comp", "gzip", "-b", "131072", "-root-mode", "0755"]
        );
        let a = mksquashfs_args(Some("-comp gzip -mkfs-time 7"), None);
        assert!(!a[4..].contains(&"-mkfs-time".to_string()));
    }
}
