//! Starting a container through the shim and keeping track of it.

use std::io::PipeReader;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::spec::ContainerSpec;
use crate::{Error, Result};

/// A started container.
#[derive(Debug)]
pub struct Running {
    pub name: String,
    /// The shim (stage 1), parent of the container's init.
    pub shim: Child,
    /// Host PID of the container's init (PID 1 inside).
    pub pid: i32,
    /// The container's console (stdout and stderr of its init).
    pub console: Option<PipeReader>,
    /// A handle on the init that signals can never reach another process
    /// through (PIDs are reused once the init is reaped).
    pidfd: Option<std::os::fd::OwnedFd>,
    spec: ContainerSpec,
}

/// Write `spec` next to its pid file and start it with `exe` (the
/// `pantavisor` binary, which knows the shim subcommands).
pub fn launch(spec: &ContainerSpec, exe: &Path) -> Result<Running> {
    let dir = spec
        .pid_file
        .parent()
        .unwrap_or(Path::new("/"))
        .to_path_buf();
    std::fs::create_dir_all(&dir).map_err(|e| pv_fs::FsError::new("create directory", &dir, e))?;
    let _ = std::fs::remove_file(&spec.pid_file);
    let spec_path: PathBuf = dir.join("spec.json");
    let json = serde_json::to_vec(spec).map_err(|e| Error::Config(e.to_string()))?;
    // the run dir is volatile: visible to the shim is enough, no fsync
    pv_fs::write_replace(&spec_path, &json)?;
    let (reader, writer) =
        std::io::pipe().map_err(|e| pv_fs::FsError::new("create pipe for", &dir, e))?;
    let writer2 = writer
        .try_clone()
        .map_err(|e| pv_fs::FsError::new("create pipe for", &dir, e))?;
    let mut shim = Command::new(exe)
        .arg("__container-shim")
        // its own process group: a Ctrl-C meant for the runtime must not
        // reach containers before the runtime stops them in order
        .process_group(0)
        // crash points are for the runtime under test, not its containers
        .env_remove("PV_FAULT")
        .arg(&spec_path)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer2)
        .spawn()
        .map_err(|e| pv_fs::FsError::new("start container shim", exe, e))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let pid = loop {
        if let Ok(s) = std::fs::read_to_string(&spec.pid_file) {
            if let Ok(pid) = s.trim().parse::<i32>() {
                break pid;
            }
        }
        if let Ok(Some(status)) = shim.try_wait() {
            if let Some(cg) = &spec.cgroup {
                cg.kill_all();
            }
            let mut said = String::new();
            let mut r = reader;
            let _ = std::io::Read::read_to_string(&mut r, &mut said);
            return Err(Error::Start {
                name: spec.name.clone(),
                msg: format!(
                    "shim exited with {status} before the init started: {}",
                    said.trim()
                ),
            });
        }
        if Instant::now() > deadline {
            let _ = shim.kill();
            let _ = shim.wait();
            return Err(Error::Start {
                name: spec.name.clone(),
                msg: "init did not start within 10 s".into(),
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let pidfd = rustix::process::Pid::from_raw(pid)
        .and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok())
        // the init could have died and its PID been reused before the open:
        // only keep the handle if the process is in the container's cgroup
        .filter(|_| {
            spec.cgroup
                .as_ref()
                .is_none_or(|cg| in_cgroup(pid, &cg.rel))
        });
    Ok(Running {
        name: spec.name.clone(),
        shim,
        pid,
        pidfd,
        console: Some(reader),
        spec: spec.clone(),
    })
}

impl Running {
    /// The spec it was started from.
    pub fn spec(&self) -> &ContainerSpec {
        &self.spec
    }

    /// `Some(exit code)` once the container has exited.
    pub fn try_exit(&mut self) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        match self.shim.try_wait() {
            Ok(Some(s)) => Some(s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))),
            Ok(None) => None,
            Err(_) => Some(-1),
        }
    }

    /// Send a signal to the container's init (never to a process that
    /// reused its PID).
    pub fn signal(&self, sig: Signal) {
        let Some(fd) = &self.pidfd else { return };
        let Some(rsig) = rustix::process::Signal::from_named_raw(sig as i32) else {
            return;
        };
        let _ = rustix::process::pidfd_send_signal(fd, rsig);
    }

    /// Stop: SIGTERM to the init, up to `grace`, then SIGKILL to the whole
    /// cgroup (or the init, which takes its PID namespace with it).
    /// Returns the exit code.
    pub fn stop(&mut self, grace: Duration) -> i32 {
        if let Some(c) = self.try_exit() {
            self.kill_leftovers();
            return c;
        }
        self.signal(Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(c) = self.try_exit() {
                self.kill_leftovers();
                return c;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.signal(Signal::SIGKILL);
        self.kill_leftovers();

        loop {
            if let Some(c) = self.try_exit() {
                break c;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn kill_leftovers(&self) {
        if let Some(cg) = &self.spec.cgroup {
            cg.kill_and_remove();
        }
    }
}

/// True if `pid` lives in cgroup `rel` (any hierarchy).
fn in_cgroup(pid: i32, rel: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map(|t| {
            t.lines().any(|l| {
                l.splitn(3, ':')
                    .nth(2)
                    .is_some_and(|p| p.trim_end_matches('/') == format!("/{rel}"))
            })
        })
        .unwrap_or(false)
}
