//! Thin, path-naming wrappers over mount(2) and friends.

use std::fs;
use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::{Error, Result};

/// Mount `fstype` from `source` on `target` with `flags` and `data`.
pub fn mount_fs(
    source: &str,
    target: &Path,
    fstype: &str,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<()> {
    mount(Some(source), target, Some(fstype), flags, data)
        .map_err(|e| Error::sys("mount", target, e))
}

/// Bind-mount `source` on `target` (recursively), read-only if asked.
pub fn bind(source: &Path, target: &Path, read_only: bool) -> Result<()> {
    bind_with(source, target, read_only, true)
}

/// Bind-mount `source` on `target`; `recursive` also binds its submounts.
pub fn bind_with(source: &Path, target: &Path, read_only: bool, recursive: bool) -> Result<()> {
    let mut flags = MsFlags::MS_BIND;
    if recursive {
        flags |= MsFlags::MS_REC;
    }
    mount(Some(source), target, None::<&str>, flags, None::<&str>)
        .map_err(|e| Error::sys("bind mount onto", target, e))?;
    if read_only {
        mount(
            None::<&str>,
            target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .map_err(|e| Error::sys("remount read-only", target, e))?;
    }
    Ok(())
}

/// Make every mount below `/` private to this mount namespace.
pub fn make_rprivate() -> Result<()> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| Error::sys("make private", "/", e))
}

/// Lazily unmount `target`.
pub fn unmount(target: &Path) -> Result<()> {
    umount2(target, MntFlags::MNT_DETACH).map_err(|e| Error::sys("unmount", target, e))
}

/// Make sure `target` exists as a directory (or, with `file`, as an empty
/// file, its parents as directories).
pub fn ensure_target(target: &Path, file: bool) -> Result<()> {
    if file {
        if let Some(p) = target.parent() {
            fs::create_dir_all(p).map_err(|e| pv_fs::FsError::new("create directory", p, e))?;
        }
        if !target.exists() {
            fs::write(target, b"").map_err(|e| pv_fs::FsError::new("create", target, e))?;
        }
        Ok(())
    } else {
        fs::create_dir_all(target)
            .map_err(|e| pv_fs::FsError::new("create directory", target, e).into())
    }
}

/// Mount points at or below `dir`, deepest first (from /proc/self/mountinfo).
pub fn mounts_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(text) = fs::read_to_string("/proc/self/mountinfo") else {
        return vec![];
    };
    let mut out: Vec<std::path::PathBuf> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .map(std::path::PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    out.dedup();
    out
}

fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Unmount everything at or below `dir`, deepest first.
pub fn unmount_all_under(dir: &Path) -> Result<()> {
    let mut first_err = None;
    for m in mounts_under(dir) {
        if let Err(e) = unmount(&m) {
            first_err.get_or_insert(e);
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn mountinfo_escapes() {
        assert_eq!(super::unescape_mountinfo("/a\\040b"), "/a b");
        assert_eq!(super::unescape_mountinfo("/plain"), "/plain");
    }
}
