//! Writing a disk image to a device (`pvflasher`, the seed's flashing
//! step): [`source`] opens raw, gzip, bzip2 and xz images by their magic
//! bytes; [`copy`] writes them with empty blocks skipped where the target
//! allows, then verifies by reading back; [`target`] refuses a target that
//! is mounted (itself, a partition of it, or a loop device backed by it)
//! and lists removable block devices.

pub mod copy;
pub mod source;
pub mod target;

use std::path::PathBuf;

pub use copy::{flash, FlashReport};
pub use target::{list_removable, Removable};

/// Why an image could not be written. Every variant names its path.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is mounted ({what}); unmount it first", path.display())]
    Mounted { path: PathBuf, what: String },
    #[error("{}: not a block device or regular file", .0.display())]
    BadTarget(PathBuf),
    #[error("{} is {have} bytes, the image needs {need}", path.display())]
    TooSmall { path: PathBuf, have: u64, need: u64 },
    #[error("{}: verification failed: wrote sha256 {wrote}, read back {read}", path.display())]
    Verify {
        path: PathBuf,
        wrote: String,
        read: String,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn io(op: &'static str, path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io { op, path, source }
}
