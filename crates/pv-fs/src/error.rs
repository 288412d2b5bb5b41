use std::io;
use std::path::{Path, PathBuf};

/// An I/O failure, always with the path it happened on.
#[derive(Debug, thiserror::Error)]
#[error("{op} {}: {source}", path.display())]
pub struct FsError {
    /// What was being done ("write", "rename", ...).
    pub op: &'static str,
    /// The path the operation failed on.
    pub path: PathBuf,
    /// The underlying error.
    #[source]
    pub source: io::Error,
}

impl FsError {
    /// Build an error for `op` on `path`.
    pub fn new(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        FsError {
            op,
            path: path.into(),
            source,
        }
    }

    /// The kind of the underlying I/O error.
    pub fn kind(&self) -> io::ErrorKind {
        self.source.kind()
    }
}

/// Attach a path and an operation name to an `io::Result`.
pub trait IoResultExt<T> {
    /// Turn the error into an [`FsError`] naming `path`.
    fn at(self, op: &'static str, path: &Path) -> Result<T, FsError>;
}

impl<T> IoResultExt<T> for io::Result<T> {
    fn at(self, op: &'static str, path: &Path) -> Result<T, FsError> {
        self.map_err(|e| FsError::new(op, path, e))
    }
}

/// A relative path from untrusted input that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path is empty")]
    Empty,
    #[error("path {0:?} is absolute")]
    Absolute(String),
    #[error("path {0:?} contains a '..' or '.' segment")]
    DotSegment(String),
    #[error("path {0:?} contains an empty segment")]
    EmptySegment(String),
    #[error("path {0:?} contains a NUL byte")]
    Nul(String),
    #[error("path {0:?} goes through a symbolic link at {1:?}")]
    Symlink(String, String),
    #[error("path {0:?} goes through a non-directory at {1:?}")]
    NotADirectory(String, String),
}
