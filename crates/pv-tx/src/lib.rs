//! pvtx transactions: start from a revision (the running one, an empty
//! one, another revision of the device, or a state on disk), merge
//! packages into it and remove parts, then either commit it to the device
//! as a new local revision through the control socket (a *remote*
//! transaction) or lay it out in a directory (a *local* one, with an
//! object directory).
//!
//! ```text
//!  pvtx CLI ─┐                      ┌─ object dir (local) ─▶ deploy <dir>
//!            ├─▶ Pvtx ── package ───┤
//!  LAN API ──┘   (record in $PVTXDIR)└─ pv-ctrl PUT /objects (remote) ─▶ commit: PUT /steps/locals/pvtx-…
//! ```
//!
//! - [`Pvtx`] is the API: one method per command ([`Pvtx::begin`],
//!   [`Pvtx::add_file`]/[`Pvtx::add_reader`], [`Pvtx::remove`],
//!   [`Pvtx::abort`], [`Pvtx::commit`], [`Pvtx::show`], [`Pvtx::deploy`],
//!   the `queue_*` methods, [`Pvtx::record`] for the transaction's status),
//!   and [`Pvtx::device`] for the control socket: a [`Device`] runs a
//!   revision ([`Device::run`]), reports progress ([`Device::status`],
//!   [`Device::progress`]), reads and edits metadata
//!   ([`Device::device_meta`], [`Device::user_meta`],
//!   [`Device::save_user_meta`], [`Device::delete_user_meta`]) and answers
//!   any other JSON endpoint ([`Device::get_json`]). A refusal keeps the
//!   device's status ([`TxError::Refused`]).
//! - [`merge`] has the merge and removal rules, [`package`] the package
//!   formats, [`store`] the crash-safe record, [`deploy`] the trail layout.
//!
//! Every operation locks the transaction directory, so concurrent callers
//! (shells, the LAN endpoint's workers) are serialized, and replaces the
//! record atomically once its objects are durable: a killed operation
//! leaves the transaction as it was before it or as it is after it. Bad
//! input (a package with other members or traversal names, a JSON that is
//! not a state, an object whose bytes do not hash to its name, a part
//! that is not there) is an error that changes nothing.

pub mod ctrl;
pub mod deploy;
mod error;
pub mod merge;
pub mod package;
mod queue;
pub mod sink;
pub mod store;
mod txn;

pub use ctrl::{find_socket, meta_pairs, Device, SOCKET_SEARCH};
pub use error::{Result, TxError};
pub use package::Package;
pub use txn::{revision_name, Base, Options, Pvtx, CTRL_BUF, DEFAULT_DIR_ROOT, OBJECT_BUF};
