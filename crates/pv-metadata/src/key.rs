//! Metadata keys: which are acceptable, and how a key maps to a
//! container's private view.

use crate::MetaError;

/// Longest key accepted (a file name).
pub const MAX_KEY_LEN: usize = 255;

/// Check that `key` can be stored as one file: not empty, no `/` or NUL,
/// not starting with `.` (which also excludes `.` and `..`, and keeps keys
/// apart from temp files), at most [`MAX_KEY_LEN`] bytes.
pub fn validate_key(key: &str) -> Result<(), MetaError> {
    let bad = |reason| {
        Err(MetaError::InvalidKey {
            key: key.to_string(),
            reason,
        })
    };
    if key.is_empty() {
        return bad("empty");
    }
    if key.len() > MAX_KEY_LEN {
        return bad("too long");
    }
    if key.contains('/') {
        return bad("contains '/'");
    }
    if key.contains('\0') {
        return bad("contains a NUL byte");
    }
    if key.starts_with('.') {
        return bad("starts with '.'");
    }
    Ok(())
}

/// Split `<container>.<name>` at the first dot: the key is also visible to
/// container `<container>` as `<name>`. `None` without a dot or with an
/// empty part.
pub fn container_split(key: &str) -> Option<(&str, &str)> {
    let (container, name) = key.split_once('.')?;
    if container.is_empty() || name.is_empty() {
        return None;
    }
    Some((container, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for ok in [
            "a",
            "foo.bar",
            "PV_LOG_LEVEL",
            "pvr-sdk.authorized_keys",
            "a..b",
        ] {
            assert!(validate_key(ok).is_ok(), "{ok}");
        }
        let long = "k".repeat(256);
        for bad in ["", ".", "..", ".hidden", "a/b", "/", "a\0b", long.as_str()] {
            assert!(validate_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn split() {
        assert_eq!(container_split("foo.bar"), Some(("foo", "bar")));
        assert_eq!(container_split("foo.bar.baz"), Some(("foo", "bar.baz")));
        assert_eq!(container_split("foo"), None);
        assert_eq!(container_split("foo."), None);
    }
}
