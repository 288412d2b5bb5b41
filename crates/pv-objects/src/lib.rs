//! The object pool: a flat directory of files named by the sha256 of their
//! bytes, shared by every revision (and, for `pvr`, by every checkout).
//!
//! Writes hash while streaming into a temp file and only rename once the
//! digest is known (and, when the caller expects a digest, matches it).
//! [`ObjectStore::ingest`] adds many files with one filesystem sync instead
//! of one fsync per file. Reads that leave the store are verified.

mod error;
mod hash;
mod store;

pub use error::ObjectError;
pub use hash::{hash_file, hash_reader, HashingWriter};
pub use store::{IngestItem, IngestStats, ObjectStore};
