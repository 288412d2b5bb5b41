//! The Pantavisor state format (`pantavisor-service-system@1`).
//!
//! A revision is one JSON object mapping relative paths to either an object
//! id (sha256 of a file) or, for `.json` keys, the file's JSON value. This
//! crate holds that model ([`State`]), object ids ([`ObjectId`]), typed views
//! of the well-known manifests ([`manifest`]) and the validation every
//! consumer runs before trusting a state ([`State::validate`]). No I/O.

pub mod manifest;
mod object_id;
pub mod revision;
mod state;
mod validate;

pub use object_id::{is_sha, ObjectId, ObjectIdError};
pub use revision::{
    check_local_name, check_revision, is_revision, is_revision_or_current, RevisionNameError,
};
pub use state::{in_part, State, StateError, SPEC_MULTI_PLATFORM, SPEC_SERVICE_SYSTEM};
pub use validate::{Invalid, ValidationReport};
