//! Spec hub.md §9: the acceptance tests of a compatible hub (1-45, 47),
//! over real HTTP against a hub on SQLite, one file per group of the spec.

mod auth;
mod devices;
mod flows;
mod logs;
mod objects;
mod public;
mod tls;
mod trails;

const SYS: &str = "pantavisor-service-system@1";
/// The poll query of spec §4.5, exactly as a device sends it.
const POLL: &str = "/steps?progress.status=%7B%22$in%22:%5B%22NEW%22,%22DOWNLOADING%22,%22INPROGRESS%22,%22TESTING%22,%22QUEUED%22%5D%7D";
