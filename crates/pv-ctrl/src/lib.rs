//! The local control API of Pantavisor: HTTP/1.x over the Unix socket
//! `<rundir>/pv-ctrl` (`/pantavisor/pv-ctrl` inside containers).
//!
//! The server runs a single-threaded tokio runtime on a thread of its own,
//! so the synchronous daemon is never blocked by it. It never touches device
//! state: every request is parsed into a typed [`CtrlRequest`] and handed,
//! with the [`Caller`] that sent it, to the runtime's single owner of state
//! through a [`CtrlQueue`] the runtime polls once per tick. The owner
//! answers each [`Pending`] with a [`CtrlReply`]; this crate renders it into
//! the bytes and status codes of the original implementation.
//!
//! ```text
//!  client ──HTTP──▶ server thread ── parse ──▶ Pending{caller, request} ──▶ CtrlQueue
//!                         ▲                                                   │ try_next() each tick
//!                         └──────── render ◀── CtrlReply ◀── Pending::reply ◀─┘ (runtime)
//! ```
//!
//! What the server decides on its own, without the owner:
//!
//! * routing: unknown path → 400 `unknown endpoint: <uri>`, wrong method →
//!   400 `Method not supported for this endpoint` (see [`routes::ROUTES`]);
//! * who is calling: the peer pid from `SO_PEERCRED`, mapped to a [`Caller`]
//!   by the runtime's [`CallerResolver`] (never anything the client sends);
//!   unknown caller → 500, a non-`mgmt` container on anything but
//!   `POST /signal` → 403 `Request not sent from a mgmt platform`;
//! * request bodies: size caps (→ 507), JSON shape of commands, signals and
//!   actions (→ 400), names of objects and local steps (→ 400);
//! * objects: `PUT /objects/<sha>` streams the body into a temp file inside
//!   the objects directory while hashing it; a wrong sha → 422 and no file
//!   left; an object already present and valid → 200 without a copy. Only a
//!   verified temp file reaches the owner, as [`CtrlRequest::PutObject`], to
//!   be renamed into place. `GET /objects/<sha>` streams the pool file
//!   directly: objects are immutable and named by their content.
//!
//! What the owner decides: everything that depends on device state,
//! including the one-command slot of `POST /commands` (see
//! [`Command::admit`], which applies the original's checks in order from
//! facts the owner supplies). The rules of those answers are written once
//! in [`rules`]; the owner supplies its facts.
//!
//! # Wiring it into the runtime
//!
//! ```ignore
//! // after ObjectStore::clean_temp (it removes the server's upload temps too)
//! let cfg = CtrlConfig::new(&rundir, layout.objects());
//! let (server, queue) = CtrlServer::start(cfg, Arc::new(my_resolver))?;
//! loop {                                   // each WAIT tick:
//!     if let Some(cmd) = slot.take() { execute(cmd) }   // 1. consume the slot
//!     while let Some(p) = queue.try_next() {            // 2. then drain requests
//!         let reply = match &p.request {
//!             CtrlRequest::Command(c) => match c.admit(&facts(slot.is_some())) {
//!                 Ok(()) => { slot = Some(c.clone()); CtrlReply::Ok }
//!                 Err(e) => CtrlReply::Error(e),
//!             },
//!             other => handle(other, &p.caller),
//!         };
//!         p.reply(reply);
//!     }
//! }
//! server.stop()?;                          // removes the socket
//! ```
//!
//! Consuming the slot before draining the queue gives the original's
//! behaviour: a second command that arrives before a WAIT tick took the
//! first one gets 503 `Retry-After: 120`.
//!
//! Tests of other crates can use the feature `testing`
//! (`testing::FakeDevice`): the real server with a fake owner.

mod caller;
mod command;
mod error;
mod reply;
mod request;
pub mod routes;
pub mod rules;
mod server;
mod sniff;
#[cfg(feature = "testing")]
pub mod testing;
mod upload;

pub use caller::{Caller, CallerResolver, HOST_NAME};
pub use command::{Command, CommandFacts, CommandOp};
pub use error::{ApiError, CtrlError};
pub use reply::{
    render, AutoRecoveryInfo, ContainerInfo, CtrlReply, DaemonInfo, DriverInfo, GroupAutoRecovery,
    GroupInfo, ObjectInfo, Rendered, RenderedBody, StepInfo,
};
pub use request::{
    parse, Action, ContainerAction, CtrlRequest, DaemonAction, MetaKind, Signal, SignalType,
};
pub use server::{CtrlConfig, CtrlQueue, CtrlServer, Pending};

/// File name of the control socket inside the run directory.
pub const SOCKET_NAME: &str = "pv-ctrl";

/// Largest body of `POST /commands`, `POST /signal` and metadata writes.
pub const MAX_SMALL_BODY: usize = 4096;
/// Largest body of container and daemon actions.
pub const MAX_ACTION_BODY: usize = 1024;
/// Largest commit message.
pub const MAX_COMMIT_MSG: usize = 256;
/// Largest state JSON accepted by `PUT /steps/locals/<name>` unless
/// [`CtrlConfig::max_state_json`] says otherwise.
pub const DEFAULT_MAX_STATE_JSON: usize = 16 << 20;
