//! pvr's exchange formats, read strictly.
//!
//! An *export* is a tar stream (gzip-compressed or not, detected by content)
//! whose members are `json` (the state) and `objects/<sha256>`; [`read_export`]
//! accepts nothing else and verifies every object into a pool as it streams
//! by. A *bare repository* is a directory with `json`, and objects in
//! `objects/` or where its `config` says ([`read_bare`]).
//!
//! This crate is what a device needs of pvr's formats (the runtime seeds its
//! factory revision with it, `pvcontrol` checks a tarball before upload),
//! without pvr's client stack.

mod archive;
mod bare;
mod error;

pub use archive::{open_maybe_gzip, read_export, ExportContent};
pub use bare::{absolute, read_bare, RepoConfig};
pub use error::{Error, Result};
