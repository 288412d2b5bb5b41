use std::path::PathBuf;

use pv_types::ObjectId;

/// An object pool failure.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error(transparent)]
    Fs(#[from] pv_fs::FsError),
    #[error("wrong sha for {}: expected {expected}, content hashes to {actual}", path.display())]
    Mismatch {
        path: PathBuf,
        expected: ObjectId,
        actual: ObjectId,
    },
    #[error("object {id} is missing from {}", dir.display())]
    Missing { id: ObjectId, dir: PathBuf },
}
