//! Power-cut safety: kill the runtime at every durable step of an update, a
//! rollback and a garbage collection (named fault points, see
//! docs/design/update-protocol.md) and at random instants inside those
//! runs, start it again on the same storage, drive it until it settled and
//! check the invariants.
//!
//! Scenarios (each starts from a stopped storage prepared once):
//! - `nonreboot`, `reboot`: an update that succeeds (UPDATED / DONE);
//! - `rollback-app`, `rollback-sys`, `rollback-goal`: an update whose new
//!   container exits with an error while TESTING (non-reboot / reboot
//!   kind) or never reaches its status goal (1 s goal timeout): the
//!   runtime rolls back to revision 0;
//! - `gc`, `gc-try`: `POST /storage/gc` with several old revisions
//!   installed (the factory kept by configuration; a try under test kept).
//!
//! Fault points are listed per runtime instance (the N-th start of a run),
//! so a point reached after a reboot is crashed on in that instance; the
//! points of the update and GC protocols come first in the schedule.
//! Random kills are drawn uniformly inside the scenario's own duration,
//! counted from the moment the command (LOCAL_RUN, GC) is sent or, for a
//! quarter of the update kills, from the start of the upload. Durations
//! are measured first and again by a calibration run every 30 kills of a
//! scenario (the machine's load changes).
//!
//! After a crash the runtime is started again (without the fault), a
//! client whose request was cut off sends it again, and the run goes on
//! until the scenario settled; then the invariants are checked on the
//! stopped storage (`check`).
//!
//! `PV_CRASH_ITERATIONS` is the number of crash runs (default 540, which
//! injects more than 500 crashes: a scheduled point may not be reached);
//! `PV_CRASH_JOBS` runs in parallel (default 2); `PV_CRASH_REPORT=<file>`
//! appends the summary lines and failures; `PV_CRASH_SCENARIOS=a,b`
//! restricts the scenarios; `PV_CRASH_ONLY=<point@n>` (or
//! `<scenario>:<instance>:<point@n>`) and `PV_CRASH_VERBOSE=1` help to
//! debug one case. Needs root.

mod device;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use device::{can_run, checkout, commit, edit_run_json, App};

/// The revision every update scenario starts from (the factory).
const OLD: &str = "0";
/// Runtime starts per run at most (a reboot update with a crash and a
/// rollback needs four).
const MAX_INSTANCES: usize = 10;
/// Written into an instance's fault log when the harness starts driving.
const DRIVE_MARK: &str = "--drive--";

fn config(commit_delay: u64, goals_timeout: u64, keep_factory: bool) -> String {
    format!(
        "PV_SECUREBOOT_MODE=disabled\nPV_LOG_LEVEL=2\nPV_UPDATER_COMMIT_DELAY={commit_delay}\n\
         PV_UPDATER_GOALS_TIMEOUT={goals_timeout}\nPV_STORAGE_GC_KEEP_FACTORY={}\n",
        keep_factory as u8
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// UPDATED or DONE (or a legal rollback caused by the crash itself).
    Success,
    /// The new revision fails: ERROR, the device back on revision 0.
    Rollback,
}

#[derive(Clone)]
enum Action {
    /// Upload objects and step, LOCAL_RUN.
    Update {
        rev: String,
        objects: Vec<(String, Vec<u8>)>,
        state: Vec<u8>,
        expect: Expect,
    },
    /// Upload objects and step only (to prepare storage).
    Upload {
        rev: String,
        objects: Vec<(String, Vec<u8>)>,
        state: Vec<u8>,
    },
    /// `POST /storage/gc`.
    Gc { keep_factory: bool },
}

#[derive(Clone)]
struct Scenario {
    name: String,
    /// Stopped storage the scenario starts from.
    storage: PathBuf,
    config: String,
    action: Action,
}

impl Scenario {
    fn rev(&self) -> Option<&str> {
        match &self.action {
            Action::Update { rev, .. } | Action::Upload { rev, .. } => Some(rev),
            Action::Gc { .. } => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Anchor {
    /// The first object upload starts.
    Upload,
    /// LOCAL_RUN (or the GC request) is sent.
    Command,
}

/// What one run does besides the scenario.
#[derive(Debug, Clone, Default)]
struct Plan {
    /// Crash at `point@n` in the given runtime instance.
    fault: Option<(usize, String)>,
    /// SIGKILL at this delay after the anchor.
    kill: Option<(Anchor, Duration)>,
    /// List the fault points reached (one file per instance).
    log_dir: Option<PathBuf>,
}

#[derive(Debug, Default)]
struct Outcome {
    crashed: bool,
    settled: bool,
    /// A random kill was delivered: whether the scenario had settled then.
    kill: Option<bool>,
    /// Measured on the first attempt.
    upload: Option<Duration>,
    run: Option<Duration>,
    /// Host resources (mounts, loop devices) left after a clean stop.
    leftovers: Option<String>,
}

fn spawn(root: &Path, fault: Option<&str>, log: Option<&Path>) -> Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pantavisor"));
    c.arg("--storage")
        .arg(root.join("storage"))
        .arg("--run-dir")
        .arg(root.join("run"));
    c.arg("--config").arg(root.join("pantavisor.config")).args([
        "--cmdline",
        "",
        "--tick-ms",
        "10",
    ]);
    c.env("NO_COLOR", "1")
        .env_remove("PV_FAULT")
        .env_remove("PV_FAULT_LOG")
        .stdout(Stdio::null());
    if std::env::var_os("PV_CRASH_VERBOSE").is_none() {
        c.stderr(Stdio::null());
    }
    if let Some(f) = fault {
        c.env("PV_FAULT", f);
    }
    if let Some(l) = log {
        c.env("PV_FAULT_LOG", l);
    }
    c.spawn().unwrap()
}

fn ctrl(root: &Path, method: &str, path: &str, body: &[u8]) -> Option<u16> {
    device::http::request(&root.join("run/pv-ctrl"), method, path, body)
        .ok()
        .map(|(s, _)| s)
}

fn status_file(root: &Path) -> PathBuf {
    root.join("run/device-meta/pantavisor.status")
}

/// The live instance runs its revision: READY, every container started
/// and its init past `trap` (a SIGTERM that reaches a namespace's init
/// before it set a handler is ignored, and a stop would wait 5 s).
fn ready(root: &Path) -> bool {
    // a start may show the status of the previous instance for a moment
    if !std::fs::read_to_string(status_file(root)).is_ok_and(|s| s == "READY") {
        return false;
    }
    let Ok((200, body)) =
        device::http::request(&root.join("run/pv-ctrl"), "GET", "/containers", b"")
    else {
        return false;
    };
    let list: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap_or_default();
    !list.is_empty()
        && list.iter().all(|c| {
            matches!(
                c.get("status").and_then(|s| s.as_str()),
                Some("STARTED" | "READY")
            )
        })
        && inits_trap_term(root, list.len())
}

/// Every container of the device has an init (pid 1 of its namespace) that
/// catches SIGTERM.
fn inits_trap_term(root: &Path, containers: usize) -> bool {
    let base =
        pv_runtime::layout::Layout::new(&root.join("storage"), &root.join("run")).cgroup_base();
    let Some(dir) = pv_container::cgroup::detect()
        .into_iter()
        .map(|h| h.mount.join(&base))
        .find(|d| d.is_dir())
    else {
        return false;
    };
    let mut inits = 0;
    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let procs = std::fs::read_to_string(e.path().join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines() {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let field = |k: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(k))
                    .map(|v| v.trim().to_string())
                    .unwrap_or_default()
            };
            if field("NSpid:").split_whitespace().last() != Some("1") {
                continue;
            }
            let caught = u64::from_str_radix(&field("SigCgt:"), 16).unwrap_or(0);
            if caught & (1 << 14) == 0 {
                return false;
            }
            inits += 1;
        }
    }
    inits >= containers
}

fn progress_status(storage: &Path, rev: &str) -> String {
    let text =
        std::fs::read(storage.join("trails").join(rev).join(".pv/progress")).unwrap_or_default();
    serde_json::from_slice::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("status").and_then(|s| s.as_str()).map(String::from))
        .unwrap_or_default()
}

fn current(storage: &Path) -> String {
    std::fs::read_link(storage.join("trails/current"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The update of `rev` is over: final progress, and after a failure the
/// device is back on another revision.
fn update_settled(storage: &Path, rev: &str) -> bool {
    match progress_status(storage, rev).as_str() {
        "DONE" | "UPDATED" => true,
        "ERROR" | "WONTGO" => current(storage) != rev,
        _ => false,
    }
}

fn final_or_running(status: &str) -> bool {
    matches!(
        status,
        "DONE" | "UPDATED" | "ERROR" | "WONTGO" | "INPROGRESS" | "TESTING"
    )
}

/// Mount points under `dir` (deepest first).
fn mountpoints_under(dir: &Path) -> Vec<String> {
    let d = dir.to_string_lossy().into_owned();
    let mut v: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(String::from))
        .filter(|m| m.starts_with(&d))
        .collect();
    v.sort_by_key(|m| std::cmp::Reverse(m.len()));
    v
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

/// Upload objects and step; true if all were accepted.
fn upload(root: &Path, rev: &str, objects: &[(String, Vec<u8>)], state: &[u8]) -> bool {
    objects
        .iter()
        .all(|(sha, data)| ctrl(root, "PUT", &format!("/objects/{sha}"), data) == Some(200))
        && ctrl(root, "PUT", &format!("/steps/{rev}"), state) == Some(200)
}

fn local_run(root: &Path, rev: &str) -> bool {
    ctrl(
        root,
        "POST",
        "/commands",
        format!(r#"{{"op":"LOCAL_RUN","payload":"{rev}"}}"#).as_bytes(),
    ) == Some(200)
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

fn append_line(path: &Path, line: &str) {
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
fn run_once(sc: &Scenario, root: &Path, plan: &Plan) -> Outcome {
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

fn stop(mut c: Child) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(c.id() as i32),
        nix::sys::signal::SIGTERM,
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if c.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = c.kill();
    let _ = c.wait();
}

// ---------------------------------------------------------------- checks

fn env_vars(storage: &Path) -> Result<BTreeMap<String, String>, String> {
    let env =
        std::fs::read(storage.join("boot/uboot.txt")).map_err(|e| format!("boot env: {e}"))?;
    Ok(env
        .split(|b| *b == 0)
        .filter(|r| !r.is_empty())
        .filter_map(|r| {
            String::from_utf8_lossy(r)
                .split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect())
}

/// A trail is complete: its state parses, every object is present with the
/// right sha256 and linked into the trail, every inline JSON is there.
fn check_trail(storage: &Path, r: &str) -> Result<(), String> {
    let t = storage.join("trails").join(r);
    let text = std::fs::read(t.join(".pvr/json")).map_err(|e| format!("trail {r}: {e}"))?;
    let state = pv_types::State::from_slice(&text).map_err(|e| format!("trail {r}: {e}"))?;
    for (key, id) in state.objects() {
        let obj = storage.join("objects").join(id.to_hex());
        let data = std::fs::read(&obj).map_err(|e| format!("object {id} of {r}: {e}"))?;
        if pv_types::ObjectId::of(&data) != id {
            return Err(format!("object {id} of {r} is corrupt"));
        }
        let linked =
            std::fs::read(t.join(key)).map_err(|e| format!("trail {r} file {key}: {e}"))?;
        if linked != data {
            return Err(format!("trail {r} file {key} differs"));
        }
    }
    for (key, v) in state.iter() {
        if key != "#spec" && pv_types::State::is_inline_json(key, v) {
            let f = std::fs::read(t.join(key)).map_err(|e| format!("trail {r} file {key}: {e}"))?;
            serde_json::from_slice::<serde_json::Value>(&f)
                .map_err(|e| format!("trail {r} file {key}: {e}"))?;
        }
    }
    Ok(())
}

/// I1/I2 and the running revision: every revision the env names or the
/// device runs is complete.
fn check_env_revisions(storage: &Path, vars: &BTreeMap<String, String>) -> Result<(), String> {
    let cur = current(storage);
    for r in [vars.get("pv_rev"), vars.get("pv_try"), Some(&cur)]
        .into_iter()
        .flatten()
        .filter(|r| !r.is_empty())
    {
        check_trail(storage, r)?;
    }
    Ok(())
}

/// I5: nothing left half-written.
fn check_no_temp(storage: &Path) -> Result<(), String> {
    let out = Command::new("find")
        .arg(storage)
        .args(["-name", "*pvtmp*"])
        .output()
        .unwrap();
    if !out.stdout.is_empty() {
        return Err(format!(
            "temp files left: {}",
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    let out = Command::new("find")
        .arg(storage.join("trails"))
        .args(["-name", "progress.commit"])
        .output()
        .unwrap();
    if !out.stdout.is_empty() {
        return Err(format!(
            "prepared commit left: {}",
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    Ok(())
}

/// A successful update (or a rollback the crash legitimately caused).
fn check_success(storage: &Path, rev: &str) -> Result<(), String> {
    let vars = env_vars(storage)?;
    let pv_rev = vars.get("pv_rev").cloned().unwrap_or_default();
    let pv_try = vars.get("pv_try").cloned().unwrap_or_default();
    if pv_rev != OLD && pv_rev != rev {
        return Err(format!("pv_rev is {pv_rev:?}"));
    }
    check_env_revisions(storage, &vars)?;
    // I3: DONE exactly when committed
    let status = progress_status(storage, rev);
    let done = status == "DONE";
    if done != (pv_rev == rev) {
        return Err(format!("pv_rev {pv_rev} but progress of {rev}: {status}"));
    }
    if done && !storage.join("trails").join(rev).join(".pv/done").exists() {
        return Err("DONE without .pv/done".into());
    }
    // I4: UPDATED leaves the try for the next boot
    if status == "UPDATED" && (pv_try != rev || current(storage) != rev) {
        return Err(format!(
            "UPDATED but pv_try {pv_try:?}, running {}",
            current(storage)
        ));
    }
    // the device runs a complete revision: the last DONE or the new one
    let cur = current(storage);
    if cur != pv_rev && cur != rev {
        return Err(format!("running {cur}, pv_rev {pv_rev}"));
    }
    if status == "ERROR" && (cur != pv_rev || !pv_try.is_empty()) {
        return Err(format!(
            "ERROR but running {cur}, pv_rev {pv_rev}, pv_try {pv_try:?}"
        ));
    }
    check_no_temp(storage)
}

/// A failed update: back on the last DONE revision, the new one ERROR.
fn check_rollback(storage: &Path, rev: &str) -> Result<(), String> {
    let vars = env_vars(storage)?;
    let pv_rev = vars.get("pv_rev").cloned().unwrap_or_default();
    let pv_try = vars.get("pv_try").cloned().unwrap_or_default();
    check_env_revisions(storage, &vars)?;
    let text = std::fs::read_to_string(storage.join("trails").join(rev).join(".pv/progress"))
        .unwrap_or_default();
    if pv_rev != OLD {
        return Err(format!("pv_rev is {pv_rev:?}, progress of {rev}: {text}"));
    }
    if !pv_try.is_empty() {
        return Err(format!("pv_try is {pv_try:?}, progress of {rev}: {text}"));
    }
    let cur = current(storage);
    if cur != OLD {
        return Err(format!("running {cur}, progress of {rev}: {text}"));
    }
    if progress_status(storage, rev) != "ERROR" {
        return Err(format!("progress of {rev}: {text:?}"));
    }
    if storage.join("trails").join(rev).join(".pv/done").exists() {
        return Err(format!("{rev} marked done"));
    }
    check_no_temp(storage)
}

/// Installed revisions (`locals/…` included).
fn installed(storage: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (dir, prefix) in [
        (storage.join("trails"), ""),
        (storage.join("trails/locals"), "locals/"),
    ] {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().is_ok_and(|t| t.is_dir())
                && !name.starts_with('.')
                && !(prefix.is_empty() && name == "locals")
            {
                out.insert(format!("{prefix}{name}"));
            }
        }
    }
    out
}

/// After a GC (retried to completion after the crash): every revision the
/// device must keep is whole, nothing else is left, every object in the
/// pool is referenced by a kept revision and none is missing or corrupt.
fn check_gc(storage: &Path, keep_factory: bool, before: &BTreeSet<String>) -> Result<(), String> {
    let vars = env_vars(storage)?;
    check_env_revisions(storage, &vars)?;
    let mut keep: BTreeSet<String> = [vars.get("pv_rev"), vars.get("pv_try")]
        .into_iter()
        .flatten()
        .filter(|r| !r.is_empty())
        .cloned()
        .collect();
    keep.insert(current(storage));
    if keep_factory {
        keep.insert("0".into());
    }
    let now = installed(storage);
    for r in &keep {
        if !now.contains(r) {
            return Err(format!("kept revision {r} is gone"));
        }
        check_trail(storage, r)?;
    }
    let extra: Vec<&String> = now.difference(&keep).collect();
    if !extra.is_empty() {
        return Err(format!("revisions not collected: {extra:?}"));
    }
    if !now.is_subset(before) {
        return Err(format!("revisions appeared: {now:?} (before {before:?})"));
    }
    let mut needed = BTreeSet::new();
    for r in &now {
        let text = std::fs::read(storage.join("trails").join(r).join(".pvr/json"))
            .map_err(|e| format!("trail {r}: {e}"))?;
        let state = pv_types::State::from_slice(&text).map_err(|e| format!("trail {r}: {e}"))?;
        needed.extend(state.object_ids().into_iter().map(|i| i.to_hex()));
    }
    let pool: BTreeSet<String> = std::fs::read_dir(storage.join("objects"))
        .map_err(|e| format!("objects: {e}"))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let leaked: Vec<&String> = pool.difference(&needed).collect();
    if !leaked.is_empty() {
        return Err(format!("unreferenced objects left: {leaked:?}"));
    }
    check_no_temp(storage)
}

fn check(sc: &Scenario, root: &Path) -> Result<(), String> {
    let storage = root.join("storage");
    match &sc.action {
        Action::Update {
            rev,
            expect: Expect::Success,
            ..
        } => check_success(&storage, rev),
        Action::Update {
            rev,
            expect: Expect::Rollback,
            ..
        } => check_rollback(&storage, rev),
        Action::Gc { keep_factory } => check_gc(&storage, *keep_factory, &installed(&sc.storage)),
        Action::Upload { .. } => Ok(()),
    }
}

// ------------------------------------------------------------ preparation

/// The committed state of `repo` as (objects, state text).
fn capture(repo: &Path, cfgdir: &Path) -> (Vec<(String, Vec<u8>)>, Vec<u8>) {
    let r = pvr_core::Repo::open(repo, cfgdir).unwrap();
    let state = r.pristine().unwrap();
    let objects = state
        .object_ids()
        .iter()
        .map(|id| (id.to_hex(), std::fs::read(r.objects.path(id)).unwrap()))
        .collect();
    (objects, std::fs::read(repo.join(".pvr/json")).unwrap())
}

/// Distinct, deterministic file contents of a revision.
fn blob(tag: &str, i: usize, len: usize) -> Vec<u8> {
    let mut x: u64 = 0xcbf29ce484222325;
    for b in tag.bytes().chain([i as u8]) {
        x = (x ^ b as u64).wrapping_mul(0x100000001b3);
    }
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// 24 files (objects) of a revision: enough for a GC to take a while.
fn write_files(repo: &Path, dir: &str, tag: &str) {
    let d = repo.join(dir);
    std::fs::create_dir_all(&d).unwrap();
    for i in 0..24 {
        let len = [65536, 16384, 4096, 1024, 100][i % 5];
        std::fs::write(d.join(format!("{tag}-{i}")), blob(tag, i, len)).unwrap();
    }
}

struct Base {
    dir: tempfile::TempDir,
    scenarios: Vec<Scenario>,
}

fn scenario(name: &str, storage: &Path, config: String, action: Action) -> Scenario {
    Scenario {
        name: name.into(),
        storage: storage.to_path_buf(),
        config,
        action,
    }
}

/// Run `sc` without faults and keep the storage it leaves as `dest`.
fn prepare(sc: &Scenario, work: &Path, dest: &Path) {
    let o = run_once(sc, work, &Plan::default());
    assert!(o.settled, "preparing {}: did not settle", sc.name);
    let st = Command::new("cp")
        .arg("-a")
        .arg(work.join("storage"))
        .arg(dest)
        .status()
        .unwrap();
    assert!(st.success());
}

fn base() -> Base {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = config(0, 10, false);
    std::fs::write(d.join("pantavisor.config"), &cfg).unwrap();
    // `sleep & wait` so that SIGTERM ends them at once; a `/fail` file (from
    // `_config`) makes a container exit with an error 0.2 s after its start
    // (not sooner: a SIGTERM that reaches a namespace's init before its
    // trap is set is ignored, and the runtime would wait 5 s to SIGKILL the
    // other container)
    let script = "trap 'exit 0' TERM; if [ -e /fail ]; then sleep 0.2; exit 3; fi; \
                  while true; do sleep 1 & wait $!; done";
    let sys = App::new("sys", "platform", script);
    let app = App::new("app", "app", script);
    let repo = checkout(d, &[sys, app], |r| {
        // the app group's goal timeout is PV_UPDATER_GOALS_TIMEOUT
        let dev = serde_json::json!({"groups": [
            {"name": "platform", "status_goal": "STARTED", "restart_policy": "system", "timeout": 10},
            {"name": "app", "status_goal": "STARTED", "restart_policy": "container"}
        ]});
        std::fs::write(r.join("device.json"), dev.to_string()).unwrap();
    });
    let mut c = Command::new(env!("CARGO_BIN_EXE_pantavisor"));
    c.arg("--storage")
        .arg(d.join("storage"))
        .arg("--run-dir")
        .arg(d.join("run"));
    c.arg("--config")
        .arg(d.join("pantavisor.config"))
        .args(["--cmdline", "", "--tick-ms", "10", "--factory"])
        .arg(&repo);
    let child = c
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(device::wait(30, || ready(d)), "factory boot");
    stop(child);
    let factory = d.join("storage");
    let cfgdir = d.join("pvr-config");
    let mut scenarios = vec![];
    // updates from the factory: edit, capture, undo
    type Edit = fn(&Path, bool);
    let edits: [(&str, Expect, String, Edit); 5] = [
        ("nonreboot", Expect::Success, cfg.clone(), |r, on| {
            set_file(r, "_config/app/motd", on.then_some("v2\n"))
        }),
        ("reboot", Expect::Success, cfg.clone(), |r, on| {
            set_file(r, "_config/sys/motd", on.then_some("v3\n"))
        }),
        // the container exits while INPROGRESS/TESTING (commit delay 2 s)
        (
            "rollback-app",
            Expect::Rollback,
            config(2, 10, false),
            |r, on| set_file(r, "_config/app/fail", on.then_some("1\n")),
        ),
        (
            "rollback-sys",
            Expect::Rollback,
            config(2, 10, false),
            |r, on| set_file(r, "_config/sys/fail", on.then_some("1\n")),
        ),
        // READY is never signalled: the goal times out after 1 s
        (
            "rollback-goal",
            Expect::Rollback,
            config(0, 1, false),
            |r, on| {
                edit_run_json(r, "app", |m| {
                    if on {
                        m.insert("status_goal".into(), "READY".into());
                    } else {
                        m.remove("status_goal");
                    }
                })
            },
        ),
    ];
    for (name, expect, config, edit) in edits {
        commit(&repo, &cfgdir, |r| edit(r, true));
        let (objects, state) = capture(&repo, &cfgdir);
        commit(&repo, &cfgdir, |r| edit(r, false));
        let rev = format!("locals/{name}");
        scenarios.push(scenario(
            name,
            &factory,
            config,
            Action::Update {
                rev,
                objects,
                state,
                expect,
            },
        ));
    }
    // several old revisions for the garbage collector: g1 and g2 (reboot
    // updates, DONE), g3 (uploaded, never run), g4 (a non-reboot update on
    // top of g2, UPDATED: the try of the next boot)
    let work = d.join("prepare");
    let mut from = factory.clone();
    let mut states = vec![];
    for (rev, sys_tag, app_tag) in [
        ("g1", "g1", None),
        ("g2", "g2", None),
        ("g3", "g3", None),
        ("g4", "g2", Some("g4")),
    ] {
        commit(&repo, &cfgdir, |r| {
            let _ = std::fs::remove_dir_all(r.join("_config/sys/gc"));
            let _ = std::fs::remove_dir_all(r.join("_config/app/gc"));
            write_files(r, "_config/sys/gc", sys_tag);
            if let Some(t) = app_tag {
                write_files(r, "_config/app/gc", t);
            }
        });
        let (objects, state) = capture(&repo, &cfgdir);
        states.push((rev, objects, state));
    }
    for (i, (rev, objects, state)) in states.into_iter().enumerate() {
        let rev = format!("locals/{rev}");
        let action = if i == 2 {
            Action::Upload {
                rev,
                objects,
                state,
            }
        } else {
            Action::Update {
                rev,
                objects,
                state,
                expect: Expect::Success,
            }
        };
        let sc = scenario(&format!("prepare-{i}"), &from, cfg.clone(), action);
        let dest = d.join(format!("storage-g{}", i + 1));
        prepare(&sc, &work, &dest);
        if i == 2 {
            scenarios.push(scenario(
                "gc",
                &dest,
                config(0, 10, true),
                Action::Gc { keep_factory: true },
            ));
        }
        from = dest;
    }
    // the try stays under test (TESTING) while the GC runs
    scenarios.push(scenario(
        "gc-try",
        &from,
        config(600, 10, false),
        Action::Gc {
            keep_factory: false,
        },
    ));
    Base { dir, scenarios }
}

fn set_file(repo: &Path, rel: &str, text: Option<&str>) {
    let p = repo.join(rel);
    match text {
        Some(t) => {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, t).unwrap();
        }
        None => {
            let _ = std::fs::remove_file(p);
        }
    }
}

// --------------------------------------------------------------- schedule

/// How much a fault point matters, 0 first: the steps of the update and
/// GC protocols and their commit records; the other durable writes of an
/// update (uploads, progress, trail files); per-boot device metadata.
fn point_class(name: &str) -> u8 {
    let write_of = |files: &[&str]| {
        name.strip_prefix("write:")
            .and_then(|w| w.rsplit_once(':'))
            .is_some_and(|(file, _)| files.contains(&file))
    };
    if name.starts_with("update:")
        || name.starts_with("gc:")
        || name.starts_with("trail:")
        || name.starts_with("rename:") && name != "rename:current" && name != "rename:logs"
        || write_of(&["progress.commit", "done", "uboot.txt"])
    {
        0
    } else if name == "syncfs" || write_of(&["progress", "json", "config", "object"]) {
        1
    } else {
        2
    }
}

/// The fault points of one scenario from its listing run: per instance,
/// `point@n` counted from the instance's start; points of the first
/// instance before the harness drives it (an idle boot) only for `nonreboot`.
fn faults_of(sc: &Scenario, log_dir: &Path) -> Vec<(usize, String, u8, usize)> {
    let mut out = vec![];
    for i in 0..MAX_INSTANCES {
        let Ok(text) = std::fs::read_to_string(log_dir.join(format!("{}-{i}.log", sc.name))) else {
            continue;
        };
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        let mut driving = i > 0 || sc.name == "nonreboot";
        for l in text.lines() {
            if l == DRIVE_MARK {
                driving = true;
                continue;
            }
            let n = seen.entry(l).or_default();
            *n += 1;
            if driving {
                out.push((i, format!("{l}@{n}"), point_class(l), *n));
            }
        }
    }
    out
}

/// One run of the schedule.
#[derive(Debug, Clone)]
enum What {
    /// Crash at `point@n` of the given runtime instance.
    Fault(usize, String),
    /// SIGKILL at this fraction of the scenario's current duration
    /// estimate (plus a margin), counted from the anchor.
    Kill(Anchor, f64),
    /// No crash: measure the scenario again (the load of the machine
    /// changes while the harness runs).
    Calibrate,
}

#[derive(Debug, Clone)]
struct Entry {
    sc: usize,
    what: What,
}

/// Durations of each scenario (upload, command to settled): the last few
/// measurements; the kills use their median.
struct Estimates(Mutex<Vec<Vec<(Duration, Duration)>>>);

impl Estimates {
    fn add(&self, sc: usize, upload: Duration, run: Duration) {
        let mut g = self.0.lock().unwrap();
        let v = &mut g[sc];
        v.push((upload, run));
        if v.len() > 5 {
            v.remove(0);
        }
    }
    fn get(&self, sc: usize) -> (Duration, Duration) {
        let g = self.0.lock().unwrap();
        let mut u: Vec<Duration> = g[sc].iter().map(|x| x.0).collect();
        let mut r: Vec<Duration> = g[sc].iter().map(|x| x.1).collect();
        u.sort();
        r.sort();
        let mid = |v: &[Duration]| v.get(v.len() / 2).copied().unwrap_or_default();
        (mid(&u), mid(&r))
    }
}

/// The plan of an entry; kill instants are drawn in [0, 1.1 × duration +
/// a small margin] of the anchor's phase.
fn plan_of(e: &Entry, est: &Estimates) -> Plan {
    match &e.what {
        What::Fault(i, p) => Plan {
            fault: Some((*i, p.clone())),
            ..Default::default()
        },
        What::Kill(anchor, u) => {
            let (upload, run) = est.get(e.sc);
            let span = match anchor {
                Anchor::Upload => upload.mul_f64(1.1) + Duration::from_millis(5),
                Anchor::Command => run.mul_f64(1.1) + Duration::from_millis(10),
            };
            Plan {
                kill: Some((*anchor, span.mul_f64(*u))),
                ..Default::default()
            }
        }
        What::Calibrate => Plan::default(),
    }
}

fn describe(base: &Base, e: &Entry, plan: &Plan) -> String {
    let sc = &base.scenarios[e.sc].name;
    match (&e.what, &plan.kill) {
        (What::Fault(i, f), _) => format!("{sc}:{i}:{f}"),
        (What::Kill(..), Some((a, d))) => {
            format!("{sc}: kill {:?}+{:.1} ms", a, d.as_secs_f64() * 1000.0)
        }
        _ => format!("{sc}: calibration"),
    }
}

#[test]
fn updates_survive_crashes_at_every_durable_step() {
    if !can_run() {
        return;
    }
    let budget: usize = std::env::var("PV_CRASH_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(540);
    let jobs: usize = std::env::var("PV_CRASH_JOBS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2)
        .max(1);
    let verbose = std::env::var_os("PV_CRASH_VERBOSE").is_some();
    let t0 = Instant::now();
    let mut base = base();
    if let Ok(only) = std::env::var("PV_CRASH_SCENARIOS") {
        let names: Vec<&str> = only.split(',').collect();
        base.scenarios.retain(|s| names.contains(&s.name.as_str()));
    }
    let n_sc = base.scenarios.len();
    // list the fault points of each scenario and measure its duration
    // (three times: the median resists a stalled or a lucky run)
    let log_dir = base.dir.path().join("points");
    std::fs::create_dir_all(&log_dir).unwrap();
    let root = base.dir.path().join("run-0");
    let est = Estimates(Mutex::new(vec![vec![]; n_sc]));
    let mut per_scenario = vec![];
    for (s, sc) in base.scenarios.iter().enumerate() {
        for pass in 0..3 {
            let o = run_once(
                sc,
                &root,
                &Plan {
                    log_dir: (pass == 0).then(|| log_dir.clone()),
                    ..Default::default()
                },
            );
            assert!(o.settled, "{}: did not settle without a crash", sc.name);
            check(sc, &root).unwrap_or_else(|e| panic!("{} without a crash: {e}", sc.name));
            if let Some(r) = o.run {
                est.add(s, o.upload.unwrap_or_default(), r);
            }
        }
        let faults = faults_of(sc, &log_dir);
        if verbose {
            let (u, r) = est.get(s);
            eprintln!(
                "{}: upload {} ms, run {} ms, {} fault points",
                sc.name,
                u.as_millis(),
                r.as_millis(),
                faults.len()
            );
        }
        per_scenario.push(faults);
    }
    // fault points: protocol points first, the first hits of a point first,
    // scenarios interleaved so that any budget covers them all
    let mut lists: Vec<Vec<Entry>> = per_scenario
        .into_iter()
        .enumerate()
        .map(|(s, mut f)| {
            f.sort_by_key(|(_, _, class, n)| (*class, *n > 2));
            f.into_iter()
                .map(|(i, p, _, _)| Entry {
                    sc: s,
                    what: What::Fault(i, p),
                })
                .collect()
        })
        .collect();
    let total_faults: usize = lists.iter().map(Vec::len).sum();
    let fault_budget = total_faults.min(budget * 11 / 20);
    let mut schedule = vec![];
    let mut idx = 0;
    while schedule.len() < fault_budget {
        let l = &mut lists[idx % n_sc];
        if !l.is_empty() {
            schedule.push(l.remove(0));
        }
        idx += 1;
    }
    // random instants inside each scenario's own duration (deterministic
    // pseudo-random sequence); a quarter of the update kills count from the
    // start of the upload; every 30 kills of a scenario, a calibration run
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut k = 0usize;
    let mut kills_of = vec![0usize; n_sc];
    let mut crash_entries = schedule.len();
    while crash_entries < budget.max(fault_budget) {
        let s = k % n_sc;
        k += 1;
        kills_of[s] += 1;
        if kills_of[s] % 30 == 15 {
            schedule.push(Entry {
                sc: s,
                what: What::Calibrate,
            });
        }
        let update = matches!(base.scenarios[s].action, Action::Update { .. });
        let anchor = if update && rnd() % 4 == 0 {
            Anchor::Upload
        } else {
            Anchor::Command
        };
        let u = (rnd() % 1_000_000) as f64 / 1_000_000.0;
        schedule.push(Entry {
            sc: s,
            what: What::Kill(anchor, u),
        });
        crash_entries += 1;
    }
    if let Ok(only) = std::env::var("PV_CRASH_ONLY") {
        schedule.retain(|e| match &e.what {
            What::Fault(i, f) => {
                f == &only || format!("{}:{i}:{f}", base.scenarios[e.sc].name) == only
            }
            _ => false,
        });
    }
    // run the schedule on `jobs` workers
    struct Tally {
        crashes: usize,
        fault_crashes: usize,
        before: usize,
        after: usize,
        undelivered: usize,
        calibrations: usize,
        per_scenario: Vec<usize>,
        failures: Vec<String>,
    }
    let tally = Mutex::new(Tally {
        crashes: 0,
        fault_crashes: 0,
        before: 0,
        after: 0,
        undelivered: 0,
        calibrations: 0,
        per_scenario: vec![0; n_sc],
        failures: vec![],
    });
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for w in 0..jobs {
            let (base, schedule, tally, next, est) = (&base, &schedule, &tally, &next, &est);
            s.spawn(move || {
                let root = base.dir.path().join(format!("run-{}", w + 1));
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(e) = schedule.get(i) else { break };
                    let sc = &base.scenarios[e.sc];
                    let plan = plan_of(e, est);
                    let t = Instant::now();
                    let o = run_once(sc, &root, &plan);
                    let what = describe(base, e, &plan);
                    if verbose {
                        eprintln!(
                            "[{i}] {what}: crashed={} settled={} kill={:?} {:.1}s",
                            o.crashed,
                            o.settled,
                            o.kill,
                            t.elapsed().as_secs_f64()
                        );
                    }
                    let calibration = matches!(e.what, What::Calibrate);
                    if calibration {
                        if let (Some(r), false) = (o.run, o.crashed) {
                            est.add(e.sc, o.upload.unwrap_or_default(), r);
                        }
                    }
                    let mut f = vec![];
                    if !o.settled {
                        f.push("did not settle".to_string());
                    }
                    if let Err(err) = check(sc, &root) {
                        f.push(err);
                    }
                    if let Some(l) = &o.leftovers {
                        f.push(format!("left on the host: {l}"));
                    }
                    let mut t = tally.lock().unwrap();
                    t.calibrations += calibration as usize;
                    if o.crashed {
                        t.crashes += 1;
                        t.per_scenario[e.sc] += 1;
                        if matches!(e.what, What::Fault(..)) {
                            t.fault_crashes += 1;
                        }
                    }
                    if matches!(e.what, What::Kill(..)) {
                        // a kill that reached an instance already exiting is no crash
                        match (o.kill, o.crashed) {
                            (Some(false), true) => t.before += 1,
                            (Some(true), true) => t.after += 1,
                            _ => t.undelivered += 1,
                        }
                    }
                    if !f.is_empty() {
                        t.failures.push(format!("{what}: {}", f.join("; ")));
                    }
                }
            });
        }
    });
    let t = tally.into_inner().unwrap();
    let summary = format!(
        "crash harness: {} runs, {} crashes injected ({} at fault points, {} random kills: \
         {} before the scenario settled, {} after, {} not delivered), {} invariant failures, {:.0} s",
        schedule.len(),
        t.crashes,
        t.fault_crashes,
        t.before + t.after,
        t.before,
        t.after,
        t.undelivered,
        t.failures.len(),
        t0.elapsed().as_secs_f64()
    );
    let scenarios = format!(
        "crash harness scenarios ({} calibration runs): {}",
        t.calibrations,
        base.scenarios
            .iter()
            .enumerate()
            .zip(&t.per_scenario)
            .map(|((i, s), n)| format!(
                "{} {n} crashes (run {} ms)",
                s.name,
                est.get(i).1.as_millis()
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("{summary}\n{scenarios}");
    if let Ok(p) = std::env::var("PV_CRASH_REPORT") {
        append_line(Path::new(&p), &format!("{summary}\n{scenarios}"));
    }
    let failures: Vec<String> = t
        .failures
        .iter()
        .map(|f| format!("crash harness failure: {f}"))
        .collect();
    if let Ok(p) = std::env::var("PV_CRASH_REPORT") {
        for f in &failures {
            append_line(Path::new(&p), f);
        }
    }
    assert!(failures.is_empty(), "{summary}\n{}", failures.join("\n"));
}
