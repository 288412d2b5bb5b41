//! What the CLI passes in (one struct per subcommand) and what it gets back.

use std::path::PathBuf;

use crate::error::{AppError, Result};

/// `--type`: where the root filesystem comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceType {
    /// A container image: registry reference, docker-archive tarball or OCI
    /// layout (the default).
    Docker,
    /// A directory, a tarball or an http(s) URL of a tarball.
    Rootfs,
    /// A part of another pvr repository (not supported yet).
    Pvr,
}

impl std::str::FromStr for SourceType {
    type Err = AppError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "docker" => Ok(SourceType::Docker),
            "rootfs" => Ok(SourceType::Rootfs),
            "pvr" => Ok(SourceType::Pvr),
            other => Err(AppError::BadSourceType(other.to_string())),
        }
    }
}

/// Registry credentials and transport settings.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// `--username/-u` (`PVR_REGISTRY_USERNAME`).
    pub username: Option<String>,
    /// `--password/-p` (`PVR_REGISTRY_PASSWORD`).
    pub password: Option<String>,
    /// Talk plain http to every registry and accept any TLS certificate
    /// (the global `--insecure`). Registries on localhost/127.0.0.1/::1 use
    /// http without it.
    pub insecure: bool,
}

/// Every flag of `pvr app add`.
#[derive(Debug, Clone, Default)]
pub struct AppAddOptions {
    /// `--from` (`PVR_FROM`): image reference, image path, rootfs path or URL.
    pub from: Option<String>,
    /// `--type/-t`. `None`: docker, except that a local path holding a plain
    /// rootfs (not an image) is taken as `rootfs`.
    pub source_type: Option<SourceType>,
    /// `--source` (`PVR_SOURCE`), default `remote,local`.
    pub source: Option<String>,
    /// `--platform` (`PVR_PLATFORM`), e.g. `linux/arm/v6`.
    pub platform: Option<String>,
    pub registry: RegistryOptions,
    /// `--group` → `PV_GROUP`.
    pub group: Option<String>,
    /// `--runlevel` → `PV_RUNLEVEL` (deprecated).
    pub runlevel: Option<String>,
    /// `--restart-policy` → `PV_RESTART_POLICY`.
    pub restart_policy: Option<String>,
    /// `--status-goal` → `PV_STATUS_GOAL`.
    pub status_goal: Option<String>,
    /// `--base`: build only `root.ovl.squashfs`, the difference to app `base`.
    pub base: Option<String>,
    /// `--config-json`: JSON object merged into `docker_config`.
    pub config_json: Option<PathBuf>,
    /// `--arg K=V` (repeatable); `K` alone sets `""`.
    pub args: Vec<String>,
    /// `--volume PATH:PERSISTENCE[@DISK]` (repeatable).
    pub volumes: Vec<String>,
    /// `--format-options/-o`: mksquashfs options (default `-comp xz`).
    pub format_options: Option<String>,
}

/// Every flag of `pvr app update`.
#[derive(Debug, Clone, Default)]
pub struct AppUpdateOptions {
    /// `--from`; default `docker_name:docker_tag` (or `rootfs_url`).
    pub from: Option<String>,
    pub source_type: Option<SourceType>,
    pub source: Option<String>,
    pub platform: Option<String>,
    pub registry: RegistryOptions,
    /// `--patch`: update `root.ovl.squashfs` on top of the current rootfs;
    /// `--base`: put the app on another app; `--newbase`: drop the overlay.
    pub patch: bool,
    pub base: Option<String>,
    pub newbase: bool,
}

/// Every flag of `pvr app install`.
#[derive(Debug, Clone, Default)]
pub struct AppInstallOptions {
    pub source_type: Option<SourceType>,
    pub source: Option<String>,
    pub registry: RegistryOptions,
    /// `--base`: put the app on another app.
    pub base: Option<String>,
    /// `--runlevel`: sets `PV_RUNLEVEL` in src.json before rendering.
    pub runlevel: Option<String>,
}

/// What happened to `root.squashfs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SquashOutcome {
    /// Built anew; `sha256` is the hex digest of the file.
    Built { sha256: String, size: u64 },
    /// The digest file already matched: nothing rebuilt.
    UpToDate,
}

/// The result of `app add/update/install`.
#[derive(Debug, Clone)]
pub struct AppReport {
    pub name: String,
    /// Image digest (`docker_digest`) or rootfs digest (`sha256:<hex>`).
    pub digest: Option<String>,
    /// Platform picked from a multi-arch index, if any.
    pub platform: Option<String>,
    pub squashfs: SquashOutcome,
    /// Files (relative to the app directory) written by this run.
    pub files: Vec<String>,
    /// Informational lines the original prints (e.g. the default group).
    pub messages: Vec<String>,
    /// Warnings the original prints with `WARN:`.
    pub warnings: Vec<String>,
}

/// A progress notification. The library never prints; the CLI turns these
/// into progress bars or log lines.
#[derive(Debug, Clone, Copy)]
pub enum ProgressEvent<'a> {
    /// A new phase ("resolving", "downloading layers", "generating squashfs").
    Step(&'a str),
    /// Bytes of a blob: `done` so far out of `total` (if known).
    Bytes {
        label: &'a str,
        done: u64,
        total: Option<u64>,
    },
}

/// Receives [`ProgressEvent`]s. Implemented for any `Fn(ProgressEvent)`.
pub trait Progress {
    fn event(&self, ev: ProgressEvent<'_>);
}

impl<F: Fn(ProgressEvent<'_>)> Progress for F {
    fn event(&self, ev: ProgressEvent<'_>) {
        self(ev)
    }
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn event(&self, _: ProgressEvent<'_>) {}
}

/// Check a `--source` list: comma separated, only `remote` and `local`.
pub fn validate_source_list(s: &str) -> Result<()> {
    if s.split(',').all(|p| p == "remote" || p == "local") {
        Ok(())
    } else {
        Err(AppError::BadSourceList(s.to_string()))
    }
}

/// The default `--source`.
pub const DEFAULT_SOURCE: &str = "remote,local";
