//! The object pool: a flat directory of files named by the sha256 of their
//! bytes, shared by every revision (and, for `pvr`, by every checkout).
//!
//! Writes hash while streaming into a temp file and only rename once the
//! digest is known (and, when the caller expects a digest, matches it).
//! [`ObjectStore::ingest`] (files) and [`ObjectStore::batch`] (streams) add
//! many objects with one flush instead of one fsync per object. Reads that leave the store are verified.

mod batch;
mod error;
mod hash;
mod store;

pub use batch::Batch;
pub use error::ObjectError;
pub use hash::{hash_file, hash_reader, HashingWriter};
pub use store::{IngestItem, IngestStats, ObjectStore};
