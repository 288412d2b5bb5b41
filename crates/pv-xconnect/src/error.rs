//! Errors of the mesh.

use std::path::PathBuf;

/// What went wrong in the mesh.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A container's `services.json` or `services` block is not valid.
    #[error("container {0}: {1}")]
    Manifest(String, String),
    /// A filesystem or socket operation on `path` failed.
    #[error("{op} {path}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The control socket did not give the graph.
    #[error("control socket: {0}")]
    Ctrl(String),
}

impl Error {
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
