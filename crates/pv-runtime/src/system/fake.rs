//! A [`System`] that records what the runtime asks and changes nothing on
//! the host (feature `testing`, and this crate's unit tests).
//!
//! Every call is recorded as a typed [`Call`]; a call can be told to fail
//! ([`FakeSystem::fail`]); mounts are remembered so that `mounts_under`
//! answers what was mounted; containers are [`FakeProcess`]es that run
//! until a test makes them exit ([`FakeSystem::exit`]) or the runtime stops
//! them (they obey SIGTERM at once unless told otherwise), so nothing ever
//! waits for a grace period.

use std::collections::BTreeSet;
use std::io::PipeReader;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use nix::sys::signal::Signal;
use pv_container::cgroup::{Cgroup, Hierarchy};
use pv_container::spec::ContainerSpec;
use pv_container::volumes::VolumeSource;
use pv_container::{Error, Result};

use super::{CgroupVersion, Process, System};

/// One request the runtime made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Mount {
        source: VolumeSource,
        target: PathBuf,
    },
    UnmountAll(PathBuf),
    CreateCgroup(String),
    SetCgroup {
        rel: String,
        version: CgroupVersion,
        key: String,
        value: String,
    },
    /// A container started with init `pid`.
    Launch {
        name: String,
        pid: i32,
    },
    Signal {
        name: String,
        signal: Signal,
    },
    /// SIGTERM, grace, SIGKILL of a container still running.
    Stop {
        name: String,
    },
    StopLeftovers(String),
}

/// A kind of call a test can make fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Mount,
    CreateCgroup,
    SetCgroup,
    Launch,
}

#[derive(Debug)]
struct Proc {
    name: String,
    pid: i32,
    exit: Option<i32>,
    ignores_sigterm: bool,
}

#[derive(Debug)]
struct Inner {
    calls: Vec<Call>,
    /// (op, substring of the container name or target path) that fail.
    failures: Vec<(Op, String)>,
    mounted: BTreeSet<PathBuf>,
    procs: Vec<Proc>,
    next_pid: i32,
    free_bytes: u64,
    leftovers: Vec<String>,
    stubborn: BTreeSet<String>,
}

/// The recording fake kernel. Clones share the same record.
#[derive(Debug, Clone)]
pub struct FakeSystem {
    inner: Arc<Mutex<Inner>>,
}

impl Default for FakeSystem {
    fn default() -> Self {
        FakeSystem::new()
    }
}

impl FakeSystem {
    /// No mounts, no containers, 1 TiB free, one cgroup2 hierarchy.
    pub fn new() -> FakeSystem {
        FakeSystem {
            inner: Arc::new(Mutex::new(Inner {
                calls: vec![],
                failures: vec![],
                mounted: BTreeSet::new(),
                procs: vec![],
                next_pid: 1000,
                free_bytes: 1 << 40,
                leftovers: vec![],
                stubborn: BTreeSet::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Every call so far, forgetting them.
    pub fn take_calls(&self) -> Vec<Call> {
        std::mem::take(&mut self.lock().calls)
    }

    /// Make every `op` whose subject (container name, or target path for
    /// mounts) contains `subject` fail from now on.
    pub fn fail(&self, op: Op, subject: &str) {
        self.lock().failures.push((op, subject.to_string()));
    }

    /// Forget every failure set with [`FakeSystem::fail`].
    pub fn heal(&self) {
        self.lock().failures.clear();
    }

    /// What the storage filesystem reports as free.
    pub fn set_free_bytes(&self, n: u64) {
        self.lock().free_bytes = n;
    }

    /// Containers a previous instance left running.
    pub fn set_leftovers(&self, names: &[&str]) {
        self.lock().leftovers = names.iter().map(|s| s.to_string()).collect();
    }

    /// Container `name`'s inits ignore SIGTERM (they are SIGKILLed at the
    /// end of the grace period).
    pub fn ignore_sigterm(&self, name: &str) {
        self.lock().stubborn.insert(name.to_string());
    }

    /// The init of container `name` exits with `code`; false if it does not run.
    pub fn exit(&self, name: &str, code: i32) -> bool {
        let mut g = self.lock();
        match g
            .procs
            .iter_mut()
            .rev()
            .find(|p| p.name == name && p.exit.is_none())
        {
            Some(p) => {
                p.exit = Some(code);
                true
            }
            None => false,
        }
    }

    /// The PID of container `name`'s running init.
    pub fn running(&self, name: &str) -> Option<i32> {
        let g = self.lock();
        g.procs
            .iter()
            .rev()
            .find(|p| p.name == name && p.exit.is_none())
            .map(|p| p.pid)
    }

    /// How many times container `name` was started.
    pub fn launches(&self, name: &str) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|c| matches!(c, Call::Launch { name: n, .. } if n == name))
            .count()
    }

    /// What is mounted now.
    pub fn mounted(&self) -> Vec<PathBuf> {
        self.lock().mounted.iter().cloned().collect()
    }

    fn check(&self, g: &Inner, op: Op, subject: &str) -> Result<()> {
        if g.failures
            .iter()
            .any(|(o, s)| *o == op && subject.contains(s.as_str()))
        {
            return Err(Error::Config(format!("fake {op:?} of {subject} fails")));
        }
        Ok(())
    }
}

impl System for FakeSystem {
    fn cgroup_hierarchies(&self) -> Vec<Hierarchy> {
        vec![Hierarchy {
            mount: PathBuf::from("/fake/cgroup"),
            v2: true,
            controllers: vec![],
        }]
    }

    fn create_cgroup(&self, hierarchies: &[Hierarchy], rel: &str) -> Result<Cgroup> {
        let mut g = self.lock();
        g.calls.push(Call::CreateCgroup(rel.to_string()));
        self.check(&g, Op::CreateCgroup, rel)?;
        // no directories: nothing real is ever written or removed
        let _ = hierarchies;
        Ok(Cgroup {
            rel: rel.to_string(),
            dirs: vec![],
        })
    }

    fn set_cgroup(
        &self,
        cg: &Cgroup,
        version: CgroupVersion,
        key: &str,
        value: &str,
    ) -> Result<()> {
        let mut g = self.lock();
        g.calls.push(Call::SetCgroup {
            rel: cg.rel.clone(),
            version,
            key: key.into(),
            value: value.into(),
        });
        self.check(&g, Op::SetCgroup, &cg.rel)
    }

    fn mount_volume(&self, source: &VolumeSource, target: &Path) -> Result<()> {
        let mut g = self.lock();
        g.calls.push(Call::Mount {
            source: source.clone(),
            target: target.to_path_buf(),
        });
        self.check(&g, Op::Mount, &target.to_string_lossy())?;
        g.mounted.insert(target.to_path_buf());
        Ok(())
    }

    fn unmount_all(&self, dir: &Path) -> Result<()> {
        let mut g = self.lock();
        g.calls.push(Call::UnmountAll(dir.to_path_buf()));
        g.mounted.retain(|m| !m.starts_with(dir));
        Ok(())
    }

    fn mounts_under(&self, dir: &Path) -> Vec<PathBuf> {
        let g = self.lock();
        g.mounted
            .iter()
            .filter(|m| m.starts_with(dir))
            .cloned()
            .collect()
    }

    fn launch(&self, spec: &ContainerSpec, _exe: &Path) -> Result<Box<dyn Process>> {
        let mut g = self.lock();
        self.check(&g, Op::Launch, &spec.name)?;
        g.next_pid += 1;
        let pid = g.next_pid;
        g.calls.push(Call::Launch {
            name: spec.name.clone(),
            pid,
        });
        let ignores_sigterm = g.stubborn.contains(&spec.name);
        g.procs.push(Proc {
            name: spec.name.clone(),
            pid,
            exit: None,
            ignores_sigterm,
        });
        Ok(Box::new(FakeProcess {
            sys: self.clone(),
            name: spec.name.clone(),
            pid,
        }))
    }

    fn container_of(&self, pid: i32, _base: &str) -> Option<String> {
        let g = self.lock();
        g.procs
            .iter()
            .find(|p| p.pid == pid && p.exit.is_none())
            .map(|p| p.name.clone())
    }

    fn stop_leftover_containers(&self, base: &str) -> Vec<String> {
        let mut g = self.lock();
        g.calls.push(Call::StopLeftovers(base.to_string()));
        std::mem::take(&mut g.leftovers)
    }

    fn free_bytes(&self, _path: &Path) -> u64 {
        self.lock().free_bytes
    }
}

/// A fake container init.
#[derive(Debug)]
pub struct FakeProcess {
    sys: FakeSystem,
    name: String,
    pid: i32,
}

impl FakeProcess {
    fn with<T>(&self, f: impl FnOnce(&mut Proc, &mut Vec<Call>) -> T) -> T {
        let mut g = self.sys.lock();
        let g = &mut *g;
        let p = g
            .procs
            .iter_mut()
            .find(|p| p.pid == self.pid)
            .expect("a launched process is never forgotten");
        f(p, &mut g.calls)
    }
}

impl Process for FakeProcess {
    fn pid(&self) -> i32 {
        self.pid
    }

    fn take_console(&mut self) -> Option<PipeReader> {
        None
    }

    fn try_exit(&mut self) -> Option<i32> {
        self.with(|p, _| p.exit)
    }

    fn signal(&self, sig: Signal) {
        let name = self.name.clone();
        self.with(|p, calls| {
            calls.push(Call::Signal { name, signal: sig });
            if p.exit.is_none() {
                match sig {
                    Signal::SIGKILL => p.exit = Some(128 + Signal::SIGKILL as i32),
                    Signal::SIGTERM if !p.ignores_sigterm => {
                        p.exit = Some(128 + Signal::SIGTERM as i32)
                    }
                    _ => {}
                }
            }
        })
    }

    fn stop(&mut self, _grace: Duration) -> i32 {
        let name = self.name.clone();
        self.with(|p, calls| {
            if let Some(code) = p.exit {
                return code;
            }
            calls.push(Call::Stop { name });
            let sig = if p.ignores_sigterm {
                Signal::SIGKILL
            } else {
                Signal::SIGTERM
            };
            let code = 128 + sig as i32;
            p.exit = Some(code);
            code
        })
    }
}
