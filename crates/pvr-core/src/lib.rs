//! Every `pvr` command as a library function.
//!
//! A checkout is a directory with a `.pvr/` folder: `json` (the committed,
//! "pristine" state, canonical JSON), `config` (where the object pool is and
//! the default remotes), `new` (paths staged by `add`) and `commitmsg`.
//! The working state is computed from the files on disk ([`working`]); status
//! and diff compare it with the pristine state through a JSON merge patch;
//! commit applies that patch and copies new objects into the pool.
//!
//! `get`, `merge`, `clone`, `inspect` and `post` also speak to http(s)
//! remotes (the hub, or a device's pvr endpoint) through [`remote`].
//!
//! Beyond the original, each commit is recorded in a local history kept
//! under the pvr config directory ([`history`]), so earlier states can be
//! listed and checked out again.

pub mod checkout;
pub mod commit;
pub mod config;
pub mod deploy;
mod error;
pub mod export;
pub mod get;
pub mod gotext;
pub mod history;
pub mod hub;
pub mod parts;
pub mod progress;
pub mod remote;
pub mod repo;
pub mod source;
mod statcache;
pub mod status;
pub mod working;

pub use error::{Error, Result};
pub use repo::Repo;
