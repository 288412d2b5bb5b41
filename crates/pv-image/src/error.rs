//! Errors of the image builder.

use std::path::PathBuf;

/// Why a BSP or an image could not be built. Nothing is left at the output
/// path when one of these is returned.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Fs(#[from] pv_fs::FsError),
    #[error(transparent)]
    Path(#[from] pv_fs::PathError),
    #[error(transparent)]
    Squashfs(#[from] pv_app::AppError),
    #[error(transparent)]
    Runtime(#[from] pv_runtime::Error),
    #[error(transparent)]
    Boot(#[from] pv_boot::BootError),
    #[error("{}: {what}", path.display())]
    Input { path: PathBuf, what: String },
    #[error("{tool} failed ({status}): {stderr}")]
    Tool {
        tool: String,
        status: String,
        stderr: String,
    },
    #[error("{tool} not found (Debian package {package})")]
    MissingTool {
        tool: &'static str,
        package: &'static str,
    },
    #[error("the state has no bootable BSP: {0}")]
    NotBootable(String),
    #[error("partition table: {0}")]
    Partition(String),
    #[error("bad size {0:?} (a number with an optional K, M or G suffix)")]
    BadSize(String),
    #[error("the image needs {need} bytes, more than the {size} asked for")]
    TooSmall { need: u64, size: u64 },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn input(path: impl Into<PathBuf>, what: impl Into<String>) -> Error {
        Error::Input {
            path: path.into(),
            what: what.into(),
        }
    }
}
