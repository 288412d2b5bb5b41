//! Pantavisor device and user metadata.
//!
//! Both are sets of string key/value pairs, one file per key in storage
//! (`PV_CACHE_DEVMETADIR`, default `<storage>/cache/devmeta`, and
//! `PV_CACHE_USRMETADIR`, default `<storage>/cache/meta`, `cache/usrmeta`
//! in appengine builds), written with [`pv_fs::write_atomic`] and limited to
//! [`MAX_VALUE_SIZE`] bytes. A [`MetaStore`] keeps them in memory in the
//! order the original renders them and mirrors them into the run directory:
//!
//! - `<rundir>/user-meta/<key>` and `<rundir>/device-meta/<key>`: every key
//!   (what mgmt containers see under `/pantavisor/`);
//! - `<rundir>/user-meta.<a>/<b>` and `<rundir>/device-meta.<a>/<b>` for a
//!   key `<a>.<b>` (split at the first dot): what container `<a>` sees.
//!
//! [`MetaStore::render`] produces the `GET /user-meta` / `GET /device-meta`
//! body, and [`devmeta`] computes the device keys that come from the host
//! (arch, uname, sysinfo, time, storage, interfaces...).

pub mod devmeta;
mod error;
mod key;
pub mod render;
mod store;

pub use devmeta::{host_device_meta, keys, HostMeta};
pub use error::MetaError;
pub use key::{container_split, validate_key, MAX_KEY_LEN};
pub use store::{MetaKind, MetaStore, Skipped};

/// Largest value accepted, in bytes (4 KiB).
pub const MAX_VALUE_SIZE: usize = 4096;
