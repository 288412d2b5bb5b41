//! Everything the runtime asks of the kernel, behind one seam.
//!
//! The update and recovery decisions (device, engine, update) never mount,
//! attach a loop device, create a cgroup, start a process or send a signal
//! themselves: they call a [`System`]. The device and the engine are given
//! one when they are constructed: [`LinuxSystem`] on a device (real
//! volumes, cgroups and containers cloned in their namespaces, which needs
//! root), or `fake::FakeSystem` in tests (feature `testing`: records every call, can
//! be told to fail, runs without root and without waiting).
//!
//! Reboot and power off are exit codes of the runtime in appengine mode
//! ([`crate::daemon::EXIT_REBOOT`]): the decisions return them, whatever
//! runs the runtime acts on them.

use std::fmt;
use std::io::PipeReader;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use pv_container::cgroup::{Cgroup, Hierarchy};
use pv_container::spec::ContainerSpec;
use pv_container::volumes::VolumeSource;
use pv_container::Result;

#[cfg(any(test, feature = "testing"))]
pub mod fake;

/// Which cgroup interface a limit is written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// `lxc.cgroup.<key>`: the v1 hierarchy of the key's controller.
    V1,
    /// `lxc.cgroup2.<key>`: the unified hierarchy.
    V2,
}

/// The kernel as the runtime uses it.
pub trait System: Send + Sync + fmt::Debug {
    /// The cgroup hierarchies mounted on the host.
    fn cgroup_hierarchies(&self) -> Vec<Hierarchy>;
    /// Create cgroup `rel` in every hierarchy.
    fn create_cgroup(&self, hierarchies: &[Hierarchy], rel: &str) -> Result<Cgroup>;
    /// Write one limit of a container's cgroup.
    fn set_cgroup(&self, cg: &Cgroup, version: CgroupVersion, key: &str, value: &str)
        -> Result<()>;
    /// Mount one volume on `target` (images through a read-only loop device).
    fn mount_volume(&self, source: &VolumeSource, target: &Path) -> Result<()>;
    /// Unmount everything mounted under `dir`.
    fn unmount_all(&self, dir: &Path) -> Result<()>;
    /// What is mounted under `dir`.
    fn mounts_under(&self, dir: &Path) -> Vec<PathBuf>;
    /// Start a container (`exe` knows the `__container-init` subcommand).
    fn launch(&self, spec: &ContainerSpec, exe: &Path) -> Result<Box<dyn Process>>;
    /// The container (a cgroup under `base`) process `pid` belongs to.
    fn container_of(&self, pid: i32, base: &str) -> Option<String>;
    /// Kill and remove every container cgroup under `base` (what a previous
    /// instance left); returns the containers that still had processes.
    fn stop_leftover_containers(&self, base: &str) -> Vec<String>;
    /// Free bytes on the filesystem of `path` for an unprivileged writer.
    fn free_bytes(&self, path: &Path) -> u64;
}

/// A started container's init, as the engine sees it.
pub trait Process: Send + fmt::Debug {
    /// Host PID of the init.
    fn pid(&self) -> i32;
    /// The console (stdout and stderr of the init), once.
    fn take_console(&mut self) -> Option<PipeReader>;
    /// `Some(exit code)` once the init has exited.
    fn try_exit(&mut self) -> Option<i32>;
    /// Send a signal to the init.
    fn signal(&self, sig: Signal);
    /// SIGTERM, up to `grace`, then SIGKILL to everything of the container;
    /// returns the exit code.
    fn stop(&mut self, grace: Duration) -> i32;
}

/// The real kernel (`pv-container`).
#[derive(Debug, Default, Clone, Copy)]
pub struct LinuxSystem;

impl System for LinuxSystem {
    fn cgroup_hierarchies(&self) -> Vec<Hierarchy> {
        pv_container::cgroup::detect()
    }

    fn create_cgroup(&self, hierarchies: &[Hierarchy], rel: &str) -> Result<Cgroup> {
        Cgroup::create(hierarchies, rel)
    }

    fn set_cgroup(
        &self,
        cg: &Cgroup,
        version: CgroupVersion,
        key: &str,
        value: &str,
    ) -> Result<()> {
        match version {
            CgroupVersion::V1 => cg.set_v1(key, value),
            CgroupVersion::V2 => cg.set_v2(key, value),
        }
    }

    fn mount_volume(&self, source: &VolumeSource, target: &Path) -> Result<()> {
        pv_container::volumes::mount_volume(source, target)
    }

    fn unmount_all(&self, dir: &Path) -> Result<()> {
        pv_container::volumes::unmount_all(dir)
    }

    fn mounts_under(&self, dir: &Path) -> Vec<PathBuf> {
        pv_container::mounts::mounts_under(dir)
    }

    fn launch(&self, spec: &ContainerSpec, exe: &Path) -> Result<Box<dyn Process>> {
        Ok(Box::new(pv_container::launch(spec, exe)?))
    }

    fn container_of(&self, pid: i32, base: &str) -> Option<String> {
        pv_container::cgroup::container_of(pid, base)
    }

    fn stop_leftover_containers(&self, base: &str) -> Vec<String> {
        let mut had_processes = vec![];
        for h in pv_container::cgroup::detect() {
            let dir = h.mount.join(base);
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in rd.flatten().filter(|e| e.path().is_dir()) {
                let name = e.file_name().to_string_lossy().into_owned();
                let cg = Cgroup {
                    rel: format!("{base}/{name}"),
                    dirs: vec![(h.clone(), e.path())],
                };
                if !cg.pids().is_empty() && !had_processes.contains(&name) {
                    had_processes.push(name);
                }
                cg.kill_and_remove();
            }
        }
        had_processes
    }

    fn free_bytes(&self, path: &Path) -> u64 {
        match rustix::fs::statvfs(path) {
            Ok(s) => s.f_bavail.saturating_mul(s.f_frsize),
            Err(_) => 0,
        }
    }
}

impl Process for pv_container::Running {
    fn pid(&self) -> i32 {
        self.pid
    }

    fn take_console(&mut self) -> Option<PipeReader> {
        self.console.take()
    }

    fn try_exit(&mut self) -> Option<i32> {
        pv_container::Running::try_exit(self)
    }

    fn signal(&self, sig: Signal) {
        pv_container::Running::signal(self, sig)
    }

    fn stop(&mut self, grace: Duration) -> i32 {
        pv_container::Running::stop(self, grace)
    }
}
