use std::path::PathBuf;

/// A container operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Fs(#[from] pv_fs::FsError),
    #[error("{what} {}: {source}", path.display())]
    Sys {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("{0}")]
    Config(String),
    #[error("container {name}: {msg}")]
    Start { name: String, msg: String },
}

impl Error {
    pub(crate) fn sys(what: &'static str, path: impl Into<PathBuf>, source: nix::Error) -> Self {
        Error::Sys {
            what,
            path: path.into(),
            source,
        }
    }
}

/// Result of a container operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
