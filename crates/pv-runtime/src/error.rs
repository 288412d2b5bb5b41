use std::path::PathBuf;

/// A runtime failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Fs(#[from] pv_fs::FsError),
    #[error(transparent)]
    Path(#[from] pv_fs::PathError),
    #[error(transparent)]
    Object(#[from] pv_objects::ObjectError),
    #[error(transparent)]
    Container2(#[from] pv_container::Error),
    #[error(transparent)]
    Boot(#[from] pv_boot::BootError),
    #[error("container {0}: {1}")]
    Container(String, String),
    #[error("invalid revision name {0:?}")]
    BadRevision(String),
    #[error("{0}")]
    BadState(String),
    #[error("factory revision: {0}")]
    Factory(String),
    #[error("storage {} is empty and no --factory state was given", .0.display())]
    NoRevision(PathBuf),
    #[error("{0}")]
    Config(String),
}

/// Result of a runtime operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
