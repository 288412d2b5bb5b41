//! Errors of the log server.

use std::io;
use std::path::PathBuf;

use pv_fs::FsError;

/// What can go wrong starting, configuring or talking to the log server.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A filesystem operation failed (the error names the path).
    #[error(transparent)]
    Fs(#[from] FsError),
    /// A socket could not be bound or configured.
    #[error("bind socket {}: {source}", path.display())]
    Bind {
        /// The socket path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The server threads could not be started.
    #[error("start log server threads: {0}")]
    Spawn(#[source] io::Error),
    /// `PV_LOG_SERVER_OUTPUTS` named an output that does not exist.
    #[error("unknown log server output {0:?}")]
    UnknownOutput(String),
    /// `PV_LOG_DIR_MAXSIZE` could not be parsed.
    #[error("invalid log directory size {0:?}")]
    InvalidSize(String),
    /// A platform or source name cannot be used for an fd subscription.
    #[error("invalid fd subscription name {0:?}")]
    InvalidName(String),
    /// The server is not running (stopped or crashed).
    #[error("log server is not running")]
    NotRunning,
    /// The server did not answer in time.
    #[error("log server did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// A client-side socket operation failed.
    #[error("{op} {}: {source}", path.display())]
    Socket {
        /// What was being done.
        op: &'static str,
        /// The socket path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A log server thread panicked.
    #[error("log server thread panicked")]
    Panicked,
}
