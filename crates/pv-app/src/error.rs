//! Errors of the `pvr app` operations.

use std::path::PathBuf;

/// An `app` operation that failed. Messages are lower-case and name the
/// path, reference or layer involved.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Fs(#[from] pv_fs::FsError),
    /// `--from` is missing (the original exits with code 4).
    #[error("--from flag is required (e.g. --from=nginx)")]
    MissingFrom,
    /// `--group` and `--runlevel` both given (the original exits with code 5).
    #[error("you must not use --runlevel and --group at the same time")]
    GroupAndRunlevel,
    #[error("empty app name")]
    EmptyName,
    #[error("invalid app name {name:?}: {source}")]
    BadName {
        name: String,
        #[source]
        source: pv_fs::PathError,
    },
    /// The exact wording of the original (`app info`, `app rm`).
    #[error("App '{0}' doesn't exist")]
    NotFound(String),
    #[error("invalid source {0:?}: valid sources are \"remote\" and \"local\"")]
    BadSourceList(String),
    #[error("invalid volume {0:?}: expected PATH:PERSISTENCE[@DISK]")]
    BadVolume(String),
    #[error("invalid source type {0:?}: expected docker, rootfs or pvr")]
    BadSourceType(String),
    #[error("source type 'pvr' is not supported yet")]
    PvrTypeUnsupported,
    #[error("image {0} is not in a registry and local docker daemon images are not supported; use a docker-archive tarball (docker save) or an OCI layout directory")]
    LocalDockerUnsupported(String),
    #[error("{path} is a plain rootfs, not a container image; use --type rootfs")]
    NotAnImage { path: String },
    /// Resolving the image failed (the original exits with code 3).
    #[error("image {reference}: {msg}")]
    Image { reference: String, msg: String },
    #[error("registry {registry}: {msg}")]
    Registry { registry: String, msg: String },
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{what}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },
    #[error("layer {layer}: {msg}")]
    Layer { layer: String, msg: String },
    #[error("layer {layer}: unsafe entry {entry:?}: {reason}")]
    UnsafeEntry {
        layer: String,
        entry: String,
        reason: String,
    },
    #[error("{tool} not found in PATH; install the Debian package {package}")]
    MissingTool {
        tool: &'static str,
        package: &'static str,
    },
    #[error("{tool} failed ({status}) building {}: {stderr}", output.display())]
    ToolFailed {
        tool: &'static str,
        status: String,
        output: PathBuf,
        stderr: String,
    },
    #[error("{}: {msg}", path.display())]
    BadJson { path: PathBuf, msg: String },
    #[error("{}: {msg}", path.display())]
    BadSrcJson { path: PathBuf, msg: String },
    #[error("download {url}: {msg}")]
    Download { url: String, msg: String },
}

impl AppError {
    /// The exit code the original `pvr app` gives for this error: 4 for a
    /// missing `--from`, 5 for `--group` with `--runlevel`, 3 for any other
    /// failure of `app add` (the original wraps them all with 3). Callers of
    /// other subcommands usually print `ERROR: <msg>` and exit 1 instead.
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::MissingFrom => 4,
            AppError::GroupAndRunlevel => 5,
            _ => 3,
        }
    }

    pub(crate) fn image(reference: impl Into<String>, msg: impl ToString) -> Self {
        AppError::Image {
            reference: reference.into(),
            msg: msg.to_string(),
        }
    }

    pub(crate) fn layer(layer: impl Into<String>, msg: impl ToString) -> Self {
        AppError::Layer {
            layer: layer.into(),
            msg: msg.to_string(),
        }
    }
}

/// Result of an `app` operation.
pub type Result<T, E = AppError> = std::result::Result<T, E>;
