//! Paths inside a rootfs being assembled: member names from layer tarballs
//! are checked lexically, and symbolic links met on the way are resolved
//! *inside* the rootfs (an absolute target or a `..` that would climb above
//! the root stays in the root, as in a chroot). Nothing is ever written
//! outside the rootfs directory.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

const MAX_LINKS: usize = 40;

/// Split a tar member name into clean components: leading `./` and empty
/// or `.` segments dropped. Fails on an absolute name, a `..` segment or a
/// NUL byte; an empty result means the root itself.
pub fn member_components(name: &[u8]) -> Result<Vec<OsString>, String> {
    if name.contains(&0) {
        return Err("name contains a NUL byte".into());
    }
    if name.starts_with(b"/") {
        return Err("absolute path".into());
    }
    let mut out = vec![];
    for c in name.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("path contains '..'".into()),
            c => out.push(OsStr::from_bytes(c).to_os_string()),
        }
    }
    if let Some(s) = join(&out).to_str() {
        if !s.is_empty() {
            pv_fs::validate_rel_path(s).map_err(|e| e.to_string())?;
        }
    }
    Ok(out)
}

/// Components joined with `/`.
pub fn join(comps: &[OsString]) -> PathBuf {
    comps.iter().collect()
}

/// The real location of `comps` under `root`: every symlink among the
/// existing components is followed inside the root; the last component is
/// followed only when `follow_last`. Returns the resolved components.
pub fn resolve(
    root: &Path,
    comps: &[OsString],
    follow_last: bool,
) -> Result<Vec<OsString>, String> {
    let mut queue: VecDeque<OsString> = comps.iter().cloned().collect();
    let mut stack: Vec<OsString> = vec![];
    let mut links = 0;
    while let Some(c) = queue.pop_front() {
        match c.as_bytes() {
            b"" | b"." => continue,
            b".." => {
                stack.pop();
                continue;
            }
            _ => {}
        }
        let last = queue.is_empty();
        let mut here = root.join(join(&stack));
        here.push(&c);
        let is_link = std::fs::symlink_metadata(&here)
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(false);
        if is_link && (!last || follow_last) {
            links += 1;
            if links > MAX_LINKS {
                return Err(format!("too many symbolic links at {}", here.display()));
            }
            let target = std::fs::read_link(&here).map_err(|e| e.to_string())?;
            let t = target.as_os_str().as_bytes();
            if t.starts_with(b"/") {
                stack.clear();
            }
            for part in t.split(|b| *b == b'/').rev() {
                queue.push_front(OsStr::from_bytes(part).to_os_string());
            }
        } else {
            stack.push(c);
        }
    }
    Ok(stack)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names() {
        assert_eq!(member_components(b"./usr//bin/").unwrap(), ["usr", "bin"]);
        assert!(member_components(b"./").unwrap().is_empty());
        assert!(member_components(b"../evil").is_err());
        assert!(member_components(b"a/../../evil").is_err());
        assert!(member_components(b"/etc/passwd").is_err());
    }

    #[test]
    fn symlinks_stay_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        std::fs::create_dir_all(r.join("usr/lib")).unwrap();
        std::os::unix::fs::symlink("usr/lib", r.join("lib")).unwrap();
        std::os::unix::fs::symlink("/etc", r.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../..", r.join("up")).unwrap();
        let c = |s: &str| member_components(s.as_bytes()).unwrap();
        assert_eq!(
            join(&resolve(r, &c("lib/x"), false).unwrap()),
            Path::new("usr/lib/x")
        );
        assert_eq!(
            join(&resolve(r, &c("abs/passwd"), false).unwrap()),
            Path::new("etc/passwd")
        );
        assert_eq!(
            join(&resolve(r, &c("up/tmp/x"), false).unwrap()),
            Path::new("tmp/x")
        );
        // the last component is not followed unless asked
        assert_eq!(
            join(&resolve(r, &c("lib"), false).unwrap()),
            Path::new("lib")
        );
        assert_eq!(
            join(&resolve(r, &c("lib"), true).unwrap()),
            Path::new("usr/lib")
        );
    }
}
