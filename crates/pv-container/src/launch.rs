//! Starting a container and keeping track of it.
//!
//! The runtime clones the container's init itself ([`crate::spawn`]): in a
//! new PID namespace (and UTS, plus IPC and network when asked), placed in
//! its cgroups and recorded in its pid file before it runs anything, then
//! executing `exe __container-init SPEC` ([`crate::setup`]), which builds
//! the root filesystem and executes the container's own init in place.
//! The runtime is the init's parent: it learns its exit status through a
//! pidfd, and no supervisor process stays per container.

use std::ffi::OsStr;
use std::io::PipeReader;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sched::CloneFlags;
use nix::sys::signal::Signal;

use crate::spawn::{spawn_held, Stdio};
use crate::spec::ContainerSpec;
use crate::{Error, Result};

/// A started container.
#[derive(Debug)]
pub struct Running {
    pub name: String,
    /// Host PID of the container's init (PID 1 inside), a child of this
    /// process.
    pub pid: i32,
    /// The container's console (stdout and stderr of its init).
    pub console: Option<PipeReader>,
    /// A handle on the init that waits and signals can never reach another
    /// process through (`None` on kernels without pidfds: then the PID,
    /// which stays ours until we reap it).
    pidfd: Option<OwnedFd>,
    /// The exit code, once reaped.
    exit: Option<i32>,
    spec: ContainerSpec,
}

/// Write `spec` next to its pid file and start it with `exe` (the
/// `pantavisor` binary, which knows the `__container-init` subcommand).
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
    // the run dir is volatile: visible to the init stage is enough, no fsync
    pv_fs::write_replace(&spec_path, &json)?;
    let (reader, writer) =
        std::io::pipe().map_err(|e| pv_fs::FsError::new("create pipe for", &dir, e))?;
    let stdio = (|| {
        Ok::<_, std::io::Error>(Stdio {
            stdin: std::fs::File::open("/dev/null")?.into(),
            stdout: writer.try_clone()?.into(),
            stderr: writer.into(),
        })
    })()
    .map_err(|e| pv_fs::FsError::new("open the console of", &dir, e))?;
    // the mount and cgroup namespaces are made by the init stage: its
    // pivot_root must not move this process's root, and its cgroup
    // namespace must start at the container's cgroup
    let mut flags = CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWUTS;
    if spec.new_ipc {
        flags |= CloneFlags::CLONE_NEWIPC;
    }
    if spec.new_net {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    let start_error = |msg: String| Error::Start {
        name: spec.name.clone(),
        msg,
    };
    // the init stage holds `ready_w` open until it executes the
    // container's init (close-on-exec) or fails: EOF on `ready_r` says the
    // container is set up (its mounts, /run included, are in place)
    let (ready_r, ready_w) = std::io::pipe()
        .and_then(|(r, w)| Ok((r, crate::spawn::above_stdio(w.into())?)))
        .map_err(|e| pv_fs::FsError::new("create pipe for", &dir, e))?;
    let ready_arg = ready_w.as_raw_fd().to_string();
    let held = spawn_held(
        exe,
        &[
            OsStr::new("__container-init"),
            spec_path.as_os_str(),
            OsStr::new(&ready_arg),
        ],
        // crash points are for the runtime under test, not its containers
        &["PV_FAULT"],
        flags,
        stdio,
        Some(&ready_w),
    )
    .map_err(|e| start_error(format!("cannot create the namespaces and the init: {e}")))?;
    drop(ready_w);
    let pid = held.pid();
    let placed = match &spec.cgroup {
        Some(cg) => cg.add_process(pid),
        None => Ok(()),
    }
    .and_then(|()| {
        Ok(pv_fs::write_replace(
            &spec.pid_file,
            pid.to_string().as_bytes(),
        )?)
    });
    if let Err(e) = placed {
        held.abandon();
        let _ = std::fs::remove_file(&spec.pid_file);
        return Err(e);
    }
    // race-free: an unreaped child keeps its PID
    let pidfd = rustix::process::Pid::from_raw(pid)
        .and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok());
    if let Err(e) = held.release() {
        let _ = std::fs::remove_file(&spec.pid_file);
        return Err(start_error(format!(
            "cannot execute {}: {e}",
            exe.display()
        )));
    }
    if !wait_for_eof(ready_r, SETUP_TIMEOUT) {
        tracing::warn!(
            "container {}: its init stage is still setting up after {} s",
            spec.name,
            SETUP_TIMEOUT.as_secs()
        );
    }
    Ok(Running {
        name: spec.name.clone(),
        pid,
        pidfd,
        exit: None,
        console: Some(reader),
        spec: spec.clone(),
    })
}

impl Running {
    /// The spec it was started from.
    pub fn spec(&self) -> &ContainerSpec {
        &self.spec
    }

    /// `Some(exit code)` once the container has exited (128 + the signal
    /// that killed it, `-1` if it cannot be waited for).
    pub fn try_exit(&mut self) -> Option<i32> {
        use rustix::process::{WaitId, WaitIdOptions, WaitOptions};
        if self.exit.is_none() {
            let code = match &self.pidfd {
                Some(fd) => rustix::process::waitid(
                    WaitId::PidFd(fd.as_fd()),
                    WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
                )
                .map(|s| s.map(|s| (s.exit_status(), s.terminating_signal()))),
                None => rustix::process::waitpid(
                    rustix::process::Pid::from_raw(self.pid),
                    WaitOptions::NOHANG,
                )
                .map(|s| s.map(|(_, s)| (s.exit_status(), s.terminating_signal()))),
            };
            self.exit = match code {
                Ok(Some((Some(c), _))) => Some(c),
                Ok(Some((None, sig))) => Some(128 + sig.unwrap_or(0)),
                Ok(None) => None,
                Err(_) => Some(-1),
            };
        }
        self.exit
    }

    /// Send a signal to the container's init (never to a process that
    /// reused its PID).
    pub fn signal(&self, sig: Signal) {
        if self.exit.is_some() {
            return;
        }
        let Some(rsig) = rustix::process::Signal::from_named_raw(sig as i32) else {
            return;
        };
        let _ = match &self.pidfd {
            Some(fd) => rustix::process::pidfd_send_signal(fd, rsig),
            None => match rustix::process::Pid::from_raw(self.pid) {
                Some(p) => rustix::process::kill_process(p, rsig),
                None => Ok(()),
            },
        };
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

/// How long [`launch`] waits for a container's init stage to be set up.
const SETUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Wait until every writer of `r` closed it (what is written is
/// ignored); false on timeout.
fn wait_for_eof(r: PipeReader, timeout: std::time::Duration) -> bool {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    use std::io::Read;
    let deadline = std::time::Instant::now() + timeout;
    let mut r = r;
    let mut buf = [0u8; 64];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        let ts = Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: left.subsec_nanos() as i64,
        };
        let mut fds = [PollFd::new(&r, PollFlags::IN)];
        match poll(&mut fds, Some(&ts)) {
            Ok(0) => return false,
            Ok(_) => match r.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return true,
            },
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return true,
        }
    }
}
