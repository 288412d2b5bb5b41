//! The Pantavisor runtime: one program that boots a revision of containers
//! and supervises it, on an ordinary Linux host (appengine mode) and, with
//! its init duties added, as PID 1.
//!
//! * [`layout`]: the storage and run directories.
//! * [`factory`] / [`trail`]: revision 0 from a pvr checkout or an export;
//!   installing any revision as `trails/<rev>/` atomically.
//! * [`model`]: a state's containers and groups.
//! * [`verify`]: checks before a revision runs (state, objects, signatures).
//! * [`platform`] / [`engine`]: containers, status goals, group gating,
//!   auto-recovery.
//! * [`system`]: everything asked of the kernel, behind one seam (a real
//!   implementation and a recording fake for tests).
//! * [`daemon`]: the main loop, signals and shutdown.
//! * [`init`]: the duties of PID 1 in embedded mode (early mounts,
//!   modules, storage, reaping, reboot).
//! * `xconnect`: the service mesh's graph and required-service check;
//!   `hosted_bus`: the hosted D-Bus system bus (`pv-dbus`).

pub mod bootfiles;
pub mod ctrl;
pub mod daemon;
pub mod daemons;
pub mod device;
pub mod disks;
pub mod drivers;
pub mod engine;
mod error;
pub mod factory;
pub mod gc;
mod hosted_bus;
pub mod housekeeping;
pub mod hub;
pub mod hubfiles;
pub mod init;
pub mod lan;
pub mod layout;
mod local_run;
pub mod logging;
pub mod metadata;
pub mod model;
pub mod platform;
pub mod progress;
pub mod system;
pub mod trail;
pub mod transition;
pub mod update;
pub mod verify;
pub mod watchdog;
mod xconnect;

#[cfg(test)]
mod tests;

pub use error::{chain, Error, Result};
