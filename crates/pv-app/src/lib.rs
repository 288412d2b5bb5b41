//! `pvr app`: container images and root filesystems turned into Pantavisor
//! containers.
//!
//! An app is a directory of the checkout holding `src.json` (the recipe),
//! `root.squashfs` (the root filesystem) with a digest file, and the files
//! the `builtin-lxc-docker` template renders from the recipe: `run.json`
//! and, except for data-only containers, `lxc.container.conf`.
//!
//! * [`app_add`], [`app_update`], [`app_install`]: get an image (registry,
//!   `docker save` tarball, OCI layout) or a rootfs (directory, tarball,
//!   URL), unpack its layers safely ([`layers`]), build `root.squashfs`
//!   reproducibly with `mksquashfs` ([`squashfs`]) and render the templates
//!   ([`template_run`], [`template_lxc`]). Every change is built in a
//!   staging directory first ([`staging`]): bad input leaves the checkout
//!   as it was.
//! * [`app_ls`], [`app_info`], [`app_rm`].
//!
//! Nothing is printed: progress goes to a [`Progress`] callback and
//! messages come back in the [`AppReport`].
//!
//! # Differences from the original `pvr`
//!
//! * Images come from registries (HTTP API v2), `docker save` tarballs and
//!   OCI layouts; `--source local` (a Docker daemon) and `--type pvr` are
//!   not supported ([`AppError::LocalDockerUnsupported`],
//!   [`AppError::PvrTypeUnsupported`]).
//! * `--volume` is split at the last `:` (`ovl:/tmp:permanent`).
//! * `--config-json` is merged into `docker_config` for images too.
//! * Layer digests are verified everywhere; member names with `..` or an
//!   absolute path are refused, symbolic links are resolved inside the
//!   rootfs.
//! * `root.squashfs` is reproducible: `-mkfs-time 0`, directory mtimes from
//!   the layers or 0 ([`squashfs`], [`layers`]).
//! * src.json keys unknown to pvr's `Source` struct are kept when it is
//!   rewritten; `app update` of a rootfs app keeps `persistence`.
//! * `app add` on an existing app reinstalls it without asking the registry
//!   first; `app update` with an unchanged digest does not rebuild.

pub mod blobstore;
pub mod docker_archive;
mod error;
pub mod go_json;
pub mod image;
mod install;
pub mod layers;
mod manage;
pub mod oci_layout;
mod ops;
mod options;
pub mod overlay;
pub mod platform;
pub mod reference;
pub mod registry;
pub mod rootfs_build;
pub mod rootpath;
pub mod source;
pub mod squashfs;
pub mod src_json;
pub mod staging;
pub mod template;
pub mod template_lxc;
pub mod template_run;

#[cfg(test)]
mod template_tests;

pub use error::{AppError, Result};
pub use manage::{app_info, app_ls, app_rm};
pub use ops::{app_add, app_dir, app_install, app_update, parse_volumes, AppEnv};
pub use options::{
    validate_source_list, AppAddOptions, AppInstallOptions, AppReport, AppUpdateOptions,
    NoProgress, Progress, ProgressEvent, RegistryOptions, SourceType, SquashOutcome,
    DEFAULT_SOURCE,
};
