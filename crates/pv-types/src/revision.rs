//! Revision (step) names, the one rule every consumer checks.
//!
//! A revision is either *remote*, a decimal number the hub assigns (`0` is
//! the factory revision), or *local*, `locals/<name>`, installed through the
//! control socket. A local name has at most [`MAX_LOCAL_NAME`] bytes and no
//! `/` (the original's `pv_storage_is_revision_local`: one `/` in the whole
//! revision). Because a name becomes a directory under `trails/` and a value
//! in the boot environment, this crate also refuses what the original lets
//! through by accident: an empty name, `.` and `..`, and control characters
//! (a newline would end the boot env entry). `current` and `locals` are
//! reserved: neither is a revision.

/// The longest local name after `locals/`, in bytes.
pub const MAX_LOCAL_NAME: usize = 64;

/// Why a string is not a revision name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevisionNameError {
    #[error("empty revision name")]
    Empty,
    #[error("revision {0:?} is neither a number nor locals/<name>")]
    NotARevision(String),
    #[error("local revision name {name:?} has {len} bytes (at most {MAX_LOCAL_NAME})")]
    TooLong { name: String, len: usize },
    #[error("local revision name {0:?} contains '/'")]
    Slash(String),
    #[error("local revision name {0:?} is a relative directory")]
    Dot(String),
    #[error("local revision name {0:?} contains a control character")]
    Control(String),
}

/// Check `name` as the part after `locals/`.
pub fn check_local_name(name: &str) -> Result<(), RevisionNameError> {
    let own = || name.to_string();
    if name.is_empty() {
        return Err(RevisionNameError::Empty);
    }
    if name.len() > MAX_LOCAL_NAME {
        return Err(RevisionNameError::TooLong {
            name: own(),
            len: name.len(),
        });
    }
    if name.contains('/') {
        return Err(RevisionNameError::Slash(own()));
    }
    if name == "." || name == ".." {
        return Err(RevisionNameError::Dot(own()));
    }
    if name.chars().any(char::is_control) {
        return Err(RevisionNameError::Control(own()));
    }
    Ok(())
}

/// Check a whole revision name: a decimal number or `locals/<name>`.
pub fn check_revision(rev: &str) -> Result<(), RevisionNameError> {
    if let Some(name) = rev.strip_prefix("locals/") {
        return check_local_name(name);
    }
    if rev.is_empty() {
        return Err(RevisionNameError::Empty);
    }
    if rev.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(());
    }
    Err(RevisionNameError::NotARevision(rev.to_string()))
}

/// True if `rev` is a revision name ([`check_revision`]).
pub fn is_revision(rev: &str) -> bool {
    check_revision(rev).is_ok()
}

/// True if `rev` names a revision for a reader: a revision or `current`
/// (the running one).
pub fn is_revision_or_current(rev: &str) -> bool {
    rev == "current" || is_revision(rev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_and_local_names() {
        let n64 = format!("locals/{}", "x".repeat(64));
        for ok in [
            "0",
            "12",
            "007",
            "locals/t1",
            "locals/pvr-0123456789abcdef",
            "locals/a.b",
            "locals/...",
            "locals/%2e%2e",
            "locals/with space",
            "locals/current",
            "locals/ünï",
            &n64,
        ] {
            assert_eq!(check_revision(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refusals_say_why() {
        use RevisionNameError as E;
        let n65 = "x".repeat(65);
        let cases: [(&str, E); 13] = [
            ("", E::Empty),
            ("locals/", E::Empty),
            ("current", E::NotARevision("current".into())),
            ("locals", E::NotARevision("locals".into())),
            ("1a", E::NotARevision("1a".into())),
            ("-1", E::NotARevision("-1".into())),
            ("../x", E::NotARevision("../x".into())),
            ("locals/a/b", E::Slash("a/b".into())),
            ("locals/.", E::Dot(".".into())),
            ("locals/..", E::Dot("..".into())),
            ("locals/a\nb", E::Control("a\nb".into())),
            ("locals/a\0", E::Control("a\0".into())),
            (
                &format!("locals/{n65}"),
                E::TooLong {
                    name: n65.clone(),
                    len: 65,
                },
            ),
        ];
        for (bad, why) in cases {
            assert_eq!(check_revision(bad), Err(why), "{bad:?}");
            assert!(!is_revision(bad));
        }
    }

    #[test]
    fn the_limit_counts_bytes() {
        // 32 two-byte characters: 64 bytes, accepted; one more is 66
        let ok = "é".repeat(32);
        assert_eq!(check_local_name(&ok), Ok(()));
        let long = "é".repeat(33);
        assert!(matches!(
            check_local_name(&long),
            Err(RevisionNameError::TooLong { len: 66, .. })
        ));
    }

    #[test]
    fn current_is_only_for_readers() {
        assert!(is_revision_or_current("current"));
        assert!(is_revision_or_current("locals/x"));
        assert!(!is_revision("current"));
        assert!(!is_revision_or_current("locals/.."));
    }
}
