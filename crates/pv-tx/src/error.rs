use std::path::PathBuf;

/// Why a transaction operation failed. Every failure leaves the
/// transaction as it was before the operation.
#[derive(Debug, thiserror::Error)]
pub enum TxError {
    #[error("no active transaction. Start a transaction first.")]
    NoTransaction,
    #[error(
        "a transaction is already in progress\nrun 'pvtx abort' to discard it or 'pvtx commit'/'pvtx deploy' to finalize it"
    )]
    InProgress,
    #[error("this is a local transaction; use 'pvtx deploy <dir>' to finalize it")]
    IsLocal,
    #[error("this is a remote transaction; use 'pvtx commit' to finalize it")]
    IsRemote,
    #[error("active transaction; finish your work with 'deploy', 'commit' or 'abort' first")]
    ActiveForQueue,
    #[error("queue {0} does not exist")]
    NoQueue(String),
    /// Another operation holds the transaction (only without waiting).
    #[error("another pvtx operation is running; retry")]
    Busy,
    #[error("part {0:?} is not in the transaction")]
    NoSuchPart(String),
    /// A package, state or part name that cannot be used.
    #[error("{0}")]
    BadInput(String),
    #[error("no state JSON found at '{0}'; expected a revision directory or a json file")]
    NoBase(PathBuf),
    /// The control socket could not be reached or answered nonsense.
    #[error("{0}")]
    Ctrl(String),
    /// The device refused a request (its status and message).
    #[error("pv-ctrl {what}: {status} {msg}")]
    Refused {
        what: String,
        status: u16,
        msg: String,
    },
    #[error(transparent)]
    Fs(#[from] pv_fs::FsError),
    #[error(transparent)]
    Objects(#[from] pv_objects::ObjectError),
    /// The transaction directory holds something this version cannot read.
    #[error("transaction record {}: {msg}", path.display())]
    Record { path: PathBuf, msg: String },
}

impl TxError {
    pub(crate) fn bad(msg: impl Into<String>) -> TxError {
        TxError::BadInput(msg.into())
    }
}

pub type Result<T, E = TxError> = std::result::Result<T, E>;
