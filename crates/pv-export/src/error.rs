use std::path::PathBuf;

/// Reading an export or a bare repository failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Fs(#[from] pv_fs::FsError),
    #[error(transparent)]
    Object(#[from] pv_objects::ObjectError),
    #[error("{}: {msg}", path.display())]
    BadRepoFile { path: PathBuf, msg: String },
    #[error("bad archive {}: {msg}", path.display())]
    BadArchive { path: PathBuf, msg: String },
    #[error("invalid state in {what}: {report}")]
    InvalidState {
        what: String,
        report: pv_types::ValidationReport,
    },
}

/// Result of reading an export or a bare repository.
pub type Result<T, E = Error> = std::result::Result<T, E>;
