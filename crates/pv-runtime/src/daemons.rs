//! Managed daemons (spec §2.3 step 4, §6.2 `/daemons`): `pv-xconnect`
//! runs in every mode (its own program, beside the runtime's executable or
//! at `PV_XCONNECT_PATH`), `hwrngd` is listed but not run in appengine
//! mode, `pv-dbus` (the hosted D-Bus system bus, [`crate::hosted_bus`])
//! starts once a revision needs it. A daemon that exits is started again
//! after [`RESPAWN_DELAY`]; `PUT /daemons/<name>` stops it (respawn off,
//! SIGTERM, pid −1) or starts it again.
//!
//! Each daemon's stdin is a pipe from the runtime: a byte on it asks for
//! an immediate reconcile (the xconnect graph changed), and its end (the
//! runtime is gone, even killed) tells the daemon to stop.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use pv_ctrl::{DaemonAction, DaemonInfo};
use tracing::{info, warn};

/// Pause before a daemon that exited is started again.
pub const RESPAWN_DELAY: Duration = Duration::from_secs(5);
/// How long a stopped daemon gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// The xconnect daemon's name, and its program's.
pub const XCONNECT: &str = "pv-xconnect";
/// The environment variable naming the xconnect program, when it is not
/// beside the runtime's executable.
pub const XCONNECT_PATH_ENV: &str = "PV_XCONNECT_PATH";

/// The xconnect program: `$PV_XCONNECT_PATH`, else `pv-xconnect` in the
/// directory of the runtime's executable `exe`.
pub fn xconnect_program(exe: &Path) -> PathBuf {
    program_of(exe, XCONNECT, std::env::var_os(XCONNECT_PATH_ENV))
}

/// The environment variable naming the hub agent's program, when it is
/// not beside the runtime's executable.
pub const HUB_AGENT_PATH_ENV: &str = "PV_HUB_AGENT_PATH";

/// The program that makes the hub client's requests (`crate::hub`):
/// `$PV_HUB_AGENT_PATH`, else `pv-hub-agent` beside `exe`.
pub fn hub_agent_program(exe: &Path) -> PathBuf {
    program_of(
        exe,
        pv_hub_proto::AGENT,
        std::env::var_os(HUB_AGENT_PATH_ENV),
    )
}

fn program_of(exe: &Path, name: &str, env: Option<std::ffi::OsString>) -> PathBuf {
    match env.filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => exe.with_file_name(name),
    }
}

/// The hosted system bus's daemon.
pub const DBUS: &str = "pv-dbus";

/// How the hosted bus's daemon runs: `dbus-daemon` with `conf`, in a
/// mount namespace of its own where `passwd` is its `/etc/passwd`.
#[derive(Debug, Clone)]
pub struct DbusCommand {
    pub program: PathBuf,
    pub conf: PathBuf,
    pub passwd: PathBuf,
}

#[derive(Debug)]
struct Managed {
    name: &'static str,
    /// Program and arguments; `None`: not available in this mode.
    cmd: Option<(PathBuf, Vec<String>)>,
    /// A file bind-mounted over `/etc/passwd` in a mount namespace of the
    /// daemon's own.
    passwd: Option<PathBuf>,
    /// A file the daemon cannot run without, made only once a revision
    /// needs the daemon (its configuration): `PUT … start` without it is
    /// refused instead of a daemon that exits and respawns forever.
    needs: Option<PathBuf>,
    child: Option<(Child, Option<ChildStdin>)>,
    /// 0 never started, −1 stopped through the API.
    pid: i32,
    respawn: bool,
    restart_at: Option<Instant>,
}

/// The runtime's daemons.
#[derive(Debug)]
pub struct Daemons {
    list: Vec<Managed>,
    /// What the xconnect daemon last heard of (the graph's fingerprint).
    xconnect_seen: Option<u64>,
}

/// Why `PUT /daemons/<name>` did nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// `name` is not a daemon.
    NotFound,
    /// `start`, but what the daemon runs with is not there: no container
    /// of the running revision needs it yet.
    NotNeeded { needs: PathBuf },
}

impl Daemons {
    /// Start the daemons: `pv-xconnect --ctrl <ctrl>` ([`xconnect_program`]
    /// of the runtime's executable `exe`); `pv-dbus` ([`DbusCommand`]) waits
    /// for [`Daemons::start_on_demand`].
    pub fn start(exe: &Path, ctrl: &Path, dbus: &DbusCommand) -> Daemons {
        let mut d = Daemons {
            list: vec![
                Managed {
                    name: "hwrngd",
                    cmd: None,
                    passwd: None,
                    needs: None,
                    child: None,
                    pid: 0,
                    respawn: false,
                    restart_at: None,
                },
                Managed {
                    name: XCONNECT,
                    cmd: Some((
                        xconnect_program(exe),
                        vec!["--ctrl".into(), ctrl.to_string_lossy().into_owned()],
                    )),
                    passwd: None,
                    needs: None,
                    child: None,
                    pid: 0,
                    respawn: true,
                    restart_at: None,
                },
                Managed {
                    name: DBUS,
                    cmd: Some((
                        dbus.program.clone(),
                        vec![
                            format!("--config-file={}", dbus.conf.display()),
                            "--nofork".into(),
                            "--nopidfile".into(),
                            "--nosyslog".into(),
                        ],
                    )),
                    passwd: Some(dbus.passwd.clone()),
                    needs: Some(dbus.conf.clone()),
                    child: None,
                    pid: 0,
                    respawn: false,
                    restart_at: None,
                },
            ],
            xconnect_seen: None,
        };
        for m in &mut d.list {
            if m.respawn {
                m.spawn();
            }
        }
        d
    }

    /// Reap daemons that exited; start again those whose delay is over.
    pub fn tick(&mut self, now: Instant) {
        for m in &mut self.list {
            if let Some((c, _)) = &mut m.child {
                if let Ok(Some(st)) = c.try_wait() {
                    warn!("daemon {}: exited ({st})", m.name);
                    m.child = None;
                    if m.respawn {
                        m.restart_at = Some(now + RESPAWN_DELAY);
                    }
                    if m.name == XCONNECT {
                        self.xconnect_seen = None;
                    }
                }
            }
            if m.child.is_none() && m.respawn && m.restart_at.is_some_and(|t| now >= t) {
                m.restart_at = None;
                m.spawn();
            }
        }
    }

    /// `GET /daemons`.
    pub fn list(&self) -> Vec<DaemonInfo> {
        self.list
            .iter()
            .map(|m| DaemonInfo {
                name: m.name.into(),
                pid: m.pid,
                respawn: m.respawn,
            })
            .collect()
    }

    /// Whether `name` is one of the daemons.
    pub fn knows(&self, name: &str) -> bool {
        self.list.iter().any(|m| m.name == name)
    }

    /// `PUT /daemons/<name>`.
    pub fn action(&mut self, name: &str, action: DaemonAction) -> Result<(), Refused> {
        let m = self
            .list
            .iter_mut()
            .find(|m| m.name == name)
            .ok_or(Refused::NotFound)?;
        match action {
            DaemonAction::Stop => {
                m.respawn = false;
                m.restart_at = None;
                m.stop();
                m.pid = -1;
            }
            DaemonAction::Start => {
                if let Some(needs) = m.needs.as_ref().filter(|p| !p.exists()) {
                    return Err(Refused::NotNeeded {
                        needs: needs.clone(),
                    });
                }
                if m.cmd.is_some() {
                    m.respawn = true;
                    if m.child.is_none() {
                        m.spawn();
                    }
                }
            }
            DaemonAction::None => {}
        }
        if name == XCONNECT {
            self.xconnect_seen = None;
        }
        Ok(())
    }

    /// Start daemon `name` if it never ran (pid 0): a daemon stopped
    /// through the API stays stopped.
    pub fn start_on_demand(&mut self, name: &str) {
        if let Some(m) = self.list.iter_mut().find(|m| m.name == name && m.pid == 0) {
            m.respawn = true;
            m.spawn();
        }
    }

    /// Whether daemon `name` runs.
    pub fn running(&self, name: &str) -> bool {
        self.list
            .iter()
            .any(|m| m.name == name && m.child.is_some())
    }

    /// Send `sig` to daemon `name` if it runs.
    pub fn signal(&self, name: &str, sig: Signal) {
        for m in self.list.iter().filter(|m| m.name == name) {
            if let Some((c, _)) = &m.child {
                let _ = kill(Pid::from_raw(c.id() as i32), sig);
            }
        }
    }

    /// Tell the xconnect daemon to reconcile now when the graph's
    /// fingerprint changed since it last heard.
    pub fn xconnect_changed(&mut self, fingerprint: u64) {
        if self.xconnect_seen == Some(fingerprint) {
            return;
        }
        let Some(m) = self.list.iter_mut().find(|m| m.name == XCONNECT) else {
            return;
        };
        if let Some((_, Some(stdin))) = &mut m.child {
            // the pipe is non-blocking: a daemon that does not read loses
            // nothing (it polls on its own anyway)
            let _ = stdin.write(b"\n");
            self.xconnect_seen = Some(fingerprint);
        }
    }

    /// Stop every daemon (shutdown).
    pub fn stop_all(&mut self) {
        for m in &mut self.list {
            m.respawn = false;
            m.stop();
        }
    }
}

impl Managed {
    fn spawn(&mut self) {
        let Some((exe, args)) = &self.cmd else {
            return;
        };
        let mut cmd = Command::new(exe);
        cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::null());
        if let Some(p) = &self.passwd {
            jail_passwd(&mut cmd, p);
        }
        let r = cmd.spawn();
        match r {
            Ok(mut c) => {
                self.pid = c.id() as i32;
                let stdin = c.stdin.take();
                if let Some(s) = &stdin {
                    let _ = rustix::fs::fcntl_setfl(s, rustix::fs::OFlags::NONBLOCK);
                }
                info!("daemon {}: started, pid {}", self.name, self.pid);
                self.child = Some((c, stdin));
            }
            Err(e) => {
                warn!("daemon {}: {} not started: {e}", self.name, exe.display());
                self.respawn = false;
            }
        }
    }

    fn stop(&mut self) {
        let Some((mut c, stdin)) = self.child.take() else {
            return;
        };
        drop(stdin);
        let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = c.try_wait() {
                info!("daemon {}: stopped", self.name);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        warn!("daemon {}: killed", self.name);
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// Run `cmd` in a mount namespace of its own where `passwd` is bind-mounted
/// over `/etc/passwd` (the host's file is untouched; the daemon resolves
/// the role users of its policy), ended by SIGTERM when the runtime goes.
fn jail_passwd(cmd: &mut Command, passwd: &Path) {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::process::CommandExt;
    let Ok(from) = std::ffi::CString::new(passwd.as_os_str().as_bytes()) else {
        return;
    };
    let to = c"/etc/passwd";
    let root = c"/";
    // SAFETY: the hook runs in the forked child before exec and only makes
    // four system calls on strings prepared before the fork (no
    // allocation, no lock).
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(move || {
            use nix::mount::{mount, MsFlags};
            // it does not read the runtime's pipe: gone with the runtime
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))?;
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
            mount(
                None::<&std::ffi::CStr>,
                root,
                None::<&std::ffi::CStr>,
                MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                None::<&std::ffi::CStr>,
            )?;
            mount(
                Some(from.as_c_str()),
                to,
                None::<&std::ffi::CStr>,
                MsFlags::MS_BIND,
                None::<&std::ffi::CStr>,
            )?;
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starting_the_bus_before_anything_needs_it_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let dbus = DbusCommand {
            program: "/bin/sleep".into(),
            conf: d.path().join("system.conf"),
            passwd: d.path().join("passwd"),
        };
        let mut ds = Daemons::start(&d.path().join("none/pantavisor"), d.path(), &dbus);
        assert_eq!(
            ds.action(DBUS, DaemonAction::Start),
            Err(Refused::NotNeeded {
                needs: dbus.conf.clone()
            })
        );
        let bus = ds.list().into_iter().find(|i| i.name == DBUS).unwrap();
        assert_eq!((bus.pid, bus.respawn), (0, false));
        assert!(!ds.running(DBUS));
        assert_eq!(
            ds.action("nope", DaemonAction::Start),
            Err(Refused::NotFound)
        );
    }

    #[test]
    fn programs_are_beside_the_runtime_unless_named() {
        for name in [XCONNECT, pv_hub_proto::AGENT] {
            assert_eq!(
                program_of(Path::new("/init"), name, None),
                Path::new("/").join(name)
            );
            assert_eq!(
                program_of(Path::new("/usr/bin/pantavisor"), name, Some("".into())),
                Path::new("/usr/bin").join(name)
            );
            assert_eq!(
                program_of(Path::new("/init"), name, Some("/opt/x/prog".into())),
                Path::new("/opt/x/prog")
            );
        }
    }
}
