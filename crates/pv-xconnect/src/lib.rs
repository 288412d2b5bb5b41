//! pv-xconnect: the service mesh between the containers of a revision
//! (spec §12, manual 6.9 and the xconnect reference).
//!
//! - [`graph`]: what providers export and consumers need, and the links of
//!   `GET /xconnect-graph`; the runtime builds it at every revision start
//!   and fails a revision whose required services nobody exports.
//! - [`daemon`]: the `pv-xconnect` daemon (the `pv-xconnect` binary of
//!   the `pantavisor` package, which the runtime starts from beside its
//!   own executable): it polls the graph and keeps each link ([`link`])
//!   in place.
//! - [`paths`]: paths inside a container through `/proc/<pid>/root`,
//!   resolved confined to the container's root.
//! - Transports: [`relay`] (unix, wayland: bytes and passed descriptors),
//!   [`rest`] (identity headers), [`dbus`] (SASL identity and filters);
//!   bulk bytes move by [`splice`] where no passed descriptor rides on them;
//!   `drm` device nodes are created by [`link`].
//! - [`hosted`]: the hosted D-Bus system bus (policy, role uids).

pub mod daemon;
pub mod dbus;
pub mod error;
pub mod graph;
pub mod hosted;
pub mod link;
pub mod paths;
pub mod relay;
pub mod rest;
pub mod splice;

pub use error::Error;
pub use graph::{HostedBus, Link, Missing, RevisionGraph};

/// An error and its sources, `: `-separated.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
