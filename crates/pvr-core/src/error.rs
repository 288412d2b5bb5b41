use std::path::PathBuf;

/// A pvr operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Fs(#[from] pv_fs::FsError),
    #[error(transparent)]
    Object(#[from] pv_objects::ObjectError),
    #[error("{0}")]
    Path(#[from] pv_fs::PathError),
    #[error("JSON Unmarshal ({path}): {msg}")]
    BadJsonFile { path: String, msg: String },
    #[error("{}: {msg}", path.display())]
    BadRepoFile { path: PathBuf, msg: String },
    #[error("invalid state in {what}: {report}")]
    InvalidState {
        what: String,
        report: pv_types::ValidationReport,
    },
    #[error("not a pvr repository: {} has no .pvr directory", .0.display())]
    NotARepo(PathBuf),
    #[error("cannot initialize an existing repository: {}", .0.display())]
    AlreadyInitialized(PathBuf),
    #[error("repo is in bad state: {}", .0.display())]
    BadState(PathBuf),
    #[error(transparent)]
    Export(#[from] pv_export::Error),
    #[error("unknown revision {0:?} (see 'pvr log')")]
    UnknownRevision(String),
    #[error(transparent)]
    Remote(#[from] crate::remote::RemoteError),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Other(String),
}

/// Result of a pvr operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Parse the JSON text of a working-tree file as the original pvr reads it
/// (Go's replacements inside strings, see [`crate::gotext`]), reporting
/// errors as it does: `JSON Unmarshal (<path>): <reason>`.
pub(crate) fn parse_json_file(rel: &str, bytes: &[u8]) -> Result<serde_json::Value> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::BadJsonFile {
            path: rel.to_string(),
            msg: "EOF".into(),
        });
    }
    pv_json::parse(&crate::gotext::normalize(bytes)).map_err(|e| Error::BadJsonFile {
        path: rel.to_string(),
        msg: e.to_string(),
    })
}
