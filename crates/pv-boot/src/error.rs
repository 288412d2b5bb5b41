//! Errors of the boot env backends.

use std::path::PathBuf;

/// Why bytes are not a valid env file, or why variables cannot be stored
/// in a format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("no double-NUL terminator within the first {0} bytes")]
    NoTerminator(usize),
    #[error("record {0:?} has no '='")]
    NoEquals(String),
    #[error("size is {got} bytes, expected {want}")]
    WrongSize { got: usize, want: usize },
    #[error("missing the GRUB environment block header")]
    BadHeader,
    #[error("variable {0:?} is not valid utf-8")]
    NotUtf8(String),
    #[error("last line {0:?} has no newline")]
    Unterminated(String),
    #[error("variables need {need} bytes but at most {max} fit")]
    TooLarge { need: usize, max: usize },
    #[error("variable name {0:?} cannot be stored in this format")]
    BadName(String),
    #[error("value of {0:?} cannot be stored in this format")]
    BadValue(String),
}

/// A boot env operation failed. Every variant names the env file.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// Reading, writing or renaming failed.
    #[error(transparent)]
    Fs(#[from] pv_fs::FsError),
    /// The file exists but is not a valid env of its format.
    #[error("corrupt boot env {}: {source}", path.display())]
    Corrupt {
        path: PathBuf,
        #[source]
        source: FormatError,
    },
    /// The variables cannot be encoded (too large, bad name or value).
    #[error("cannot write boot env {}: {source}", path.display())]
    Unwritable {
        path: PathBuf,
        #[source]
        source: FormatError,
    },
}
