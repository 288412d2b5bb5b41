use std::path::{Path, PathBuf};

use crate::PathError;

/// Check that `rel` is a clean relative path with `/` separators: not empty,
/// not absolute, no `.` or `..` segment, no empty segment, no NUL.
pub fn validate_rel_path(rel: &str) -> Result<(), PathError> {
    if rel.is_empty() {
        return Err(PathError::Empty);
    }
    if rel.contains('\0') {
        return Err(PathError::Nul(rel.to_string()));
    }
    if rel.starts_with('/') {
        return Err(PathError::Absolute(rel.to_string()));
    }
    for seg in rel.split('/') {
        match seg {
            "" => return Err(PathError::EmptySegment(rel.to_string())),
            "." | ".." => return Err(PathError::DotSegment(rel.to_string())),
            _ => {}
        }
    }
    Ok(())
}

/// Join a validated relative path onto `root`, refusing to pass through a
/// symbolic link or a regular file on the way. The last component itself may
/// be anything (it is usually about to be replaced); components that do not
/// exist yet are fine.
pub fn safe_join(root: &Path, rel: &str) -> Result<PathBuf, PathError> {
    validate_rel_path(rel)?;
    let mut out = root.to_path_buf();
    let segs: Vec<&str> = rel.split('/').collect();
    for (i, seg) in segs.iter().enumerate() {
        out.push(seg);
        if i + 1 == segs.len() {
            break;
        }
        match std::fs::symlink_metadata(&out) {
            Ok(md) if md.file_type().is_symlink() => {
                return Err(PathError::Symlink(rel.to_string(), segs[..=i].join("/")))
            }
            Ok(md) if !md.is_dir() => {
                return Err(PathError::NotADirectory(
                    rel.to_string(),
                    segs[..=i].join("/"),
                ))
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_clean_paths() {
        for p in [
            "a",
            "a/b",
            "bsp/run.json",
            "_config/app/etc/x.conf",
            "a b/c d",
            "#spec",
        ] {
            validate_rel_path(p).unwrap();
        }
    }

    #[test]
    fn rejects_bad_paths() {
        assert_eq!(validate_rel_path(""), Err(PathError::Empty));
        assert!(matches!(
            validate_rel_path("/etc"),
            Err(PathError::Absolute(_))
        ));
        assert!(matches!(
            validate_rel_path("a/../b"),
            Err(PathError::DotSegment(_))
        ));
        assert!(matches!(
            validate_rel_path(".."),
            Err(PathError::DotSegment(_))
        ));
        assert!(matches!(
            validate_rel_path("./a"),
            Err(PathError::DotSegment(_))
        ));
        assert!(matches!(
            validate_rel_path("a//b"),
            Err(PathError::EmptySegment(_))
        ));
        assert!(matches!(
            validate_rel_path("a/"),
            Err(PathError::EmptySegment(_))
        ));
        assert!(matches!(validate_rel_path("a\0b"), Err(PathError::Nul(_))));
    }

    #[test]
    fn safe_join_refuses_symlink_escape() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("real")).unwrap();
        std::os::unix::fs::symlink("/tmp", d.path().join("link")).unwrap();
        assert!(safe_join(d.path(), "real/x").is_ok());
        assert!(safe_join(d.path(), "missing/deeper/x").is_ok());
        assert!(matches!(
            safe_join(d.path(), "link/x"),
            Err(PathError::Symlink(..))
        ));
        std::fs::write(d.path().join("file"), b"x").unwrap();
        assert!(matches!(
            safe_join(d.path(), "file/x"),
            Err(PathError::NotADirectory(..))
        ));
    }

    proptest::proptest! {
        #[test]
        fn validated_paths_never_escape(s in "[a-z./]{0,12}") {
            if validate_rel_path(&s).is_ok() {
                let p = Path::new("/root").join(&s);
                let mut depth = 0i32;
                for c in p.strip_prefix("/root").unwrap().components() {
                    match c {
                        std::path::Component::Normal(_) => depth += 1,
                        _ => depth -= 100,
                    }
                }
                proptest::prop_assert!(depth >= 1);
            }
        }
    }
}
