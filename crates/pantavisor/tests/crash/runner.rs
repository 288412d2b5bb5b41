//! One crash run: a scenario driven to the end with its planned fault or
//! random kill, the runtime restarted after every exit.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::device;
use crate::runtime::{
    ctrl, final_or_running, local_run, mountpoints_under, progress_status, ready, spawn,
    status_file, stop, update_settled, upload,
};
use crate::scenarios::{Action, Scenario};

/// Runtime starts per run at most (a reboot update with a crash and a
/// rollback needs four).
pub(crate) const MAX_INSTANCES: usize = 10;
/// Written into an instance's fault log when the harness starts driving.
pub(crate) const DRIVE_MARK: &str = "--drive--";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    /// The first object upload starts.
    Upload,
    /// LOCAL_RUN (or the GC request) is sent.
    Command,
}

/// What one run does besides the scenario.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    /// Crash at `point@n` in the given runtime instance.
    pub(crate) fault: Option<(usize, String)>,
    /// SIGKILL at this delay after the anchor.
    pub(crate) kill: Option<(Anchor, Duration)>,
    /// List the fault points reached (one file per instance).
    pub(crate) log_dir: Option<PathBuf>,
}

#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) crashed: bool,
    pub(crate) settled: bool,
    /// A random kill was delivered: whether the scenario had settled then.
    pub(crate) kill: Option<bool>,
    /// Measured on the first attempt.
    pub(crate) upload: Option<Duration>,
    pub(crate) run: Option<Duration>,
    /// Host resources (mounts, loop devices) left after a clean stop.
    pub(crate) leftovers: Option<String>,
}

fn reset_root(sc: &Scenario, root: &Path) {
    // never walk into what a killed runtime left mounted
    for m in mountpoints_under(root) {
        let _ = Command::new("umount").args(["-l", &m]).status();
    }
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(root).unwrap();
    let st = Command::new("cp")
        .arg("-a")
        .arg(&sc.storage)
        .arg(root.join("storage"))
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::write(root.join("pantavisor.config"), &sc.config).unwrap();
}

/// The random killer of a run: waits for the anchor, sleeps the delay, then
/// SIGKILLs whichever instance runs (the next one if none does). Returns
/// whether the scenario had settled at the kill.
fn killer(
    rx: mpsc::Receiver<Instant>,
    delay: Duration,
    pid: Arc<Mutex<Option<i32>>>,
    done: Arc<AtomicBool>,
    fired: Arc<Mutex<Option<i32>>>,
    probe: impl Fn() -> bool,
) -> Option<bool> {
    let anchor = rx.recv().ok()?;
    let at = anchor + delay;
    let now = Instant::now();
    if at > now {
        std::thread::sleep(at - now);
    }
    loop {
        {
            let g = pid.lock().unwrap();
            if done.load(Ordering::SeqCst) {
                return None;
            }
            if let Some(p) = *g {
                let settled = probe();
                *fired.lock().unwrap() = Some(p);
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p),
                    nix::sys::signal::SIGKILL,
                );
                return Some(settled);
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

pub(crate) fn append_line(path: &Path, line: &str) {
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{line}");
    }
}

/// Run one scenario with the plan's crash, restarting the runtime after
/// every exit (reboot or crash) and retrying what a cut-off client would
/// retry, until it settled.
pub(crate) fn run_once(sc: &Scenario, root: &Path, plan: &Plan) -> Outcome {
    reset_root(sc, root);
    let storage = root.join("storage");
    let mut out = Outcome::default();
    let pid: Arc<Mutex<Option<i32>>> = Arc::new(Mutex::new(None));
    let done = Arc::new(AtomicBool::new(false));
    // the instance the random kill hit
    let fired: Arc<Mutex<Option<i32>>> = Arc::new(Mutex::new(None));
    let gc_answered = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<Instant>();
    let mut tx = Some(tx);
    let kill_thread = plan.kill.map(|(_, delay)| {
        let (pid, done, fired) = (pid.clone(), done.clone(), fired.clone());
        let answered = gc_answered.clone();
        let (st, rev) = (storage.clone(), sc.rev().map(String::from));
        std::thread::spawn(move || {
            killer(rx, delay, pid, done, fired, move || match &rev {
                Some(r) => update_settled(&st, r),
                None => answered.load(Ordering::SeqCst),
            })
        })
    });
    let kill_anchor = plan.kill.map(|(a, _)| a);
    let anchor = |a: Anchor, at: Instant, tx: &mut Option<mpsc::Sender<Instant>>| {
        if kill_anchor == Some(a) {
            if let Some(t) = tx.take() {
                let _ = t.send(at);
            }
        }
    };
    let log_of = |i: usize| {
        plan.log_dir
            .as_ref()
            .map(|d| d.join(format!("{}-{i}.log", sc.name)))
    };
    let arm = |i: usize, crashed: bool| {
        plan.fault
            .as_ref()
            .filter(|(n, _)| *n == i && !crashed)
            .map(|(_, f)| f.clone())
    };
    let mut instance = 0;
    let mut child = spawn(root, arm(0, false).as_deref(), log_of(0).as_deref());
    *pid.lock().unwrap() = Some(child.id() as i32);
    let mut driven = false;
    let mut attempts = 0;
    let mut t_command: Option<Instant> = None;
    let mut kill_missed = false;
    let mut alive = true;
    'instances: loop {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let exited = {
                let mut g = pid.lock().unwrap();
                match child.try_wait() {
                    Ok(Some(s)) => {
                        *g = None;
                        Some(s)
                    }
                    _ => None,
                }
            };
            if let Some(s) = exited {
                alive = false;
                if s.signal() == Some(9) {
                    out.crashed = true;
                    // a client whose upload or command was cut off tries again
                    driven = false;
                } else if fired.lock().unwrap().is_some() {
                    // the kill reached an instance that was exiting anyway
                    kill_missed = true;
                }
                break;
            }
            // the duration of the first attempt, to where its records settle
            if let (Some(t), None, false, Some(rev)) = (t_command, out.run, out.crashed, sc.rev()) {
                if matches!(sc.action, Action::Update { .. }) && update_settled(&storage, rev) {
                    out.run = Some(t.elapsed());
                }
            }
            if ready(root) {
                let needs = match &sc.action {
                    Action::Update { rev, .. } => {
                        !driven && !final_or_running(&progress_status(&storage, rev))
                    }
                    Action::Upload { .. } | Action::Gc { .. } => !driven,
                };
                if needs {
                    if let Some(l) = log_of(instance) {
                        append_line(&l, DRIVE_MARK);
                    }
                    attempts += 1;
                    let first = attempts == 1;
                    let t0 = Instant::now();
                    if first {
                        anchor(Anchor::Upload, t0, &mut tx);
                    }
                    driven = match &sc.action {
                        Action::Update {
                            rev,
                            objects,
                            state,
                            ..
                        } => {
                            upload(root, rev, objects, state) && {
                                let t = Instant::now();
                                if first {
                                    anchor(Anchor::Command, t, &mut tx);
                                }
                                if t_command.is_none() && !out.crashed {
                                    t_command = Some(t);
                                    out.upload = Some(t - t0);
                                }
                                local_run(root, rev)
                            }
                        }
                        Action::Upload {
                            rev,
                            objects,
                            state,
                        } => upload(root, rev, objects, state),
                        Action::Gc { .. } => {
                            if first {
                                anchor(Anchor::Command, t0, &mut tx);
                            }
                            let ok = ctrl(root, "POST", "/storage/gc", b"") == Some(200);
                            if ok {
                                gc_answered.store(true, Ordering::SeqCst);
                                if out.run.is_none() && !out.crashed {
                                    out.run = Some(t0.elapsed());
                                }
                            }
                            ok
                        }
                    };
                } else {
                    let settled = match &sc.action {
                        Action::Update { rev, .. } => update_settled(&storage, rev),
                        Action::Upload { .. } | Action::Gc { .. } => driven,
                    };
                    // a random kill still to come (or on its way): wait for it
                    let pending = tx.is_none()
                        && !out.crashed
                        && !kill_missed
                        && kill_thread
                            .as_ref()
                            .is_some_and(|h| !h.is_finished() || fired.lock().unwrap().is_some());
                    if settled && !pending {
                        out.settled = true;
                        break 'instances;
                    }
                }
            }
            if Instant::now() > deadline {
                break 'instances;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        instance += 1;
        if instance >= MAX_INSTANCES {
            break;
        }
        let _ = std::fs::remove_file(status_file(root));
        child = spawn(
            root,
            arm(instance, out.crashed).as_deref(),
            log_of(instance).as_deref(),
        );
        alive = true;
        *pid.lock().unwrap() = Some(child.id() as i32);
    }
    // end the killer before stopping (it must not hit the final stop)
    done.store(true, Ordering::SeqCst);
    drop(tx);
    let _ = pid.lock().unwrap().take();
    if let Some(h) = kill_thread {
        out.kill = h.join().unwrap();
    }
    if alive && *fired.lock().unwrap() == Some(child.id() as i32) {
        // killed after the loop ended: let it die
        let s = child.wait().unwrap();
        out.crashed |= s.signal() == Some(9);
        alive = false;
    }
    if !alive {
        // a killed runtime leaves containers and mounts: a last start
        // (without faults) reaps them, then stops cleanly
        let _ = std::fs::remove_file(status_file(root));
        child = spawn(root, None, None);
        device::wait(20, || ready(root));
    }
    stop(child);
    let leftover = || {
        let m = mountpoints_under(root);
        let l = device::loops_under(root);
        (!m.is_empty() || l > 0).then(|| format!("mounts {m:?}, {l} loop devices"))
    };
    if !device::wait(3, || leftover().is_none()) {
        out.leftovers = leftover();
    }
    out
}
