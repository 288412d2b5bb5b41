//! Real containers, as Pantavisor runs them.
//!
//! * [`lxcconf`] reads the `lxc.container.conf` that `pvr app` writes.
//! * [`volumes`] mounts a container's volumes on the host (squashfs images
//!   through read-only auto-clearing loop devices, persistent directories
//!   by bind mount, boot volumes as tmpfs) and unmounts them.
//! * [`cgroup`] places containers in cgroups (v1, v2 or hybrid) with the
//!   limits their config sets.
//! * [`spec::ContainerSpec`] is everything needed to start one container;
//!   [`launch`] clones the container's init straight from the runtime
//!   ([`spawn`]: new PID namespace, placed in its cgroups before it runs),
//!   which executes `pantavisor __container-init` ([`setup`]): as PID 1 of
//!   the new PID namespace it builds the root filesystem (overlay of config
//!   files, squashfs and a writable upper dir), mounts /proc, /sys, /dev
//!   and the volumes, pivots into it and executes the container's init in
//!   place. No supervisor process stays per container: the runtime is the
//!   init's parent and waits for it through a pidfd.
//!
//! Mounts made inside the container's mount namespace disappear with it;
//! only the host-side volume mounts need [`volumes::unmount_all`].

pub mod cgroup;
mod error;
pub mod launch;
pub mod loopdev;
pub mod lxcconf;
pub mod mounts;
pub mod setup;
pub mod spawn;
pub mod spec;
pub mod volumes;

pub use error::{Error, Result};
pub use launch::{launch, Running};
pub use spec::ContainerSpec;
