//! What the runtime needs of the hub, without a TLS stack in PID 1: the
//! types of the device side of the Pantahub protocol (spec hub.md §4), a
//! serialisable [`Error`] that keeps what callers decide on, the frames
//! spoken with the `pv-hub-agent` process ([`wire`]) and the client that
//! runs it ([`HubAgent`]). The agent itself serves the frames with
//! `pv-hub-client` (HTTP/1.1 over rustls); a panic there restarts an
//! agent instead of killing PID 1.

mod client;
mod error;
mod types;
pub mod wire;

pub use client::{HubAgent, AGENT};
pub use error::{Error, Result};
pub use types::{Announce, DeviceInfo, Endpoint, LogOutcome, ObjectInfo, Registration, Step};
