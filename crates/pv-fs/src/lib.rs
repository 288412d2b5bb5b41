//! Durable filesystem writes and path validation.
//!
//! Every piece of state that Pantavisor or `pvr` writes goes through
//! [`write_atomic`] or [`AtomicFile`]: data lands in a temp file next to its
//! target, is fsynced, renamed over the target, and the directory is fsynced.
//! A power cut at any instant leaves either the old or the new content.
//!
//! Paths that come from a state, a tarball or a request are checked with
//! [`validate_rel_path`] and joined with [`safe_join`], which refuses `..`,
//! absolute paths, empty segments and symlinks on the way.

mod atomic;
mod batch;
mod error;
pub mod fault;
mod paths;

pub use atomic::{
    copy_atomic, fsync_dir, is_temp_name, remove_durable, rename_durable, syncfs, write_atomic,
    write_replace, AtomicFile, PendingRename, TEMP_MARKER,
};
pub use batch::{publish, start_writeback};
pub use error::{FsError, IoResultExt, PathError};
pub use paths::{safe_join, validate_rel_path};
