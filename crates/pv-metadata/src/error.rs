//! Errors of the metadata stores.

use std::path::PathBuf;

use pv_fs::FsError;

/// What can go wrong with a metadata key or its files.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// The key cannot be a file name (empty, `/`, NUL, leading `.`, too long).
    #[error("invalid metadata key {key:?}: {reason}")]
    InvalidKey {
        /// The refused key.
        key: String,
        /// Why.
        reason: &'static str,
    },
    /// The value exceeds [`crate::MAX_VALUE_SIZE`].
    #[error("metadata value for {key:?} is {size} bytes, more than {max}")]
    ValueTooLarge {
        /// The key.
        key: String,
        /// The value size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A filesystem operation failed (the error names the path).
    #[error(transparent)]
    Fs(#[from] FsError),
    /// A host probe failed (statvfs on the storage path, ...).
    #[error("probe {}: {source}", path.display())]
    Probe {
        /// The path probed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}
