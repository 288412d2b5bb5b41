//! Power-cut safety: kill the runtime at every durable step of an update
//! (named fault points, see docs/design/update-protocol.md) and at random
//! instants, start it again on the same storage, and check the invariants.
//!
//! `PV_CRASH_ITERATIONS` is the number of runs (default 700, which injects
//! more than 500 crashes: some scheduled crash points are not reached);
//! `PV_CRASH_REPORT=<file>` appends a summary line; `PV_CRASH_ONLY=<point@n>`
//! and `PV_CRASH_VERBOSE=1` help to debug one case. Needs root.

mod device;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use device::{can_run, checkout, commit, App};

const CONFIG: &str = "PV_SECUREBOOT_MODE=disabled\nPV_LOG_LEVEL=2\nPV_UPDATER_COMMIT_DELAY=0\nPV_UPDATER_GOALS_TIMEOUT=10\n";

struct Base {
    dir: tempfile::TempDir,
    /// Storage after the factory boot (stopped).
    storage: PathBuf,
    /// (objects, state) of the non-reboot and the reboot update.
    updates: Vec<(String, Vec<(String, Vec<u8>)>, Vec<u8>)>,
}

fn spawn(root: &Path, fault: Option<&str>) -> Child {
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
        .stdout(Stdio::null());
    if std::env::var_os("PV_CRASH_VERBOSE").is_none() {
        c.stderr(Stdio::null());
    }
    if let Some(f) = fault {
        c.env("PV_FAULT", f);
    }
    c.spawn().unwrap()
}

fn stop(mut c: Child) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(c.id() as i32),
        nix::sys::signal::SIGTERM,
    );
    let _ = c.wait();
}

fn ctrl(root: &Path, method: &str, path: &str, body: &[u8]) -> Option<u16> {
    device::http::request(&root.join("run/pv-ctrl"), method, path, body)
        .ok()
        .map(|(s, _)| s)
}

fn ready(root: &Path) -> bool {
    // the files of a crashed process stay behind: ask the live one
    std::fs::read_to_string(root.join("run/device-meta/pantavisor.status"))
        .is_ok_and(|s| s == "READY")
        && ctrl(root, "GET", "/buildinfo", b"") == Some(200)
}

fn base() -> Base {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("pantavisor.config"), CONFIG).unwrap();
    // `sleep & wait` so that SIGTERM ends them at once
    let sys = App::new(
        "sys",
        "platform",
        "trap 'exit 0' TERM; while true; do sleep 1 & wait $!; done",
    );
    let app = App::new(
        "app",
        "app",
        "trap 'exit 0' TERM; while true; do sleep 1 & wait $!; done",
    );
    let repo = checkout(d, &[sys, app], |r| {
        let dev = serde_json::json!({"groups": [
            {"name": "platform", "status_goal": "STARTED", "restart_policy": "system", "timeout": 10},
            {"name": "app", "status_goal": "STARTED", "restart_policy": "container", "timeout": 10}
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
    let cfgdir = d.join("pvr-config");
    let mut updates = vec![];
    for (name, file, text) in [
        ("nonreboot", "_config/app/motd", "v2\n"),
        ("reboot", "_config/sys/motd", "v3\n"),
    ] {
        commit(&repo, &cfgdir, |r| {
            let p = r.join(file);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        });
        let r = pvr_core::Repo::open(&repo, &cfgdir).unwrap();
        let state = r.pristine().unwrap();
        let objects = state
            .object_ids()
            .iter()
            .map(|id| (id.to_hex(), std::fs::read(r.objects.path(id)).unwrap()))
            .collect();
        updates.push((
            name.to_string(),
            objects,
            std::fs::read(repo.join(".pvr/json")).unwrap(),
        ));
    }
    Base {
        storage: d.join("storage"),
        dir,
        updates,
    }
}

/// Run one update with a crash; returns whether the crash happened.
fn run_once(
    base: &Base,
    root: &Path,
    which: usize,
    fault: Option<&str>,
    kill_after: Option<Duration>,
) -> bool {
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(root).unwrap();
    let st = Command::new("cp")
        .arg("-a")
        .arg(&base.storage)
        .arg(root.join("storage"))
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::copy(
        base.dir.path().join("pantavisor.config"),
        root.join("pantavisor.config"),
    )
    .unwrap();
    let (name, objects, state) = &base.updates[which];
    let rev = format!("locals/{name}");
    let started = Instant::now();
    let mut crashed = false;
    let mut child = spawn(root, fault);
    let progress = || {
        std::fs::read_to_string(root.join("storage/trails").join(&rev).join(".pv/progress"))
            .unwrap_or_default()
    };
    let final_ = |p: &str| {
        ["\"DONE\"", "\"UPDATED\"", "\"ERROR\"", "\"WONTGO\""]
            .iter()
            .any(|s| p.contains(s))
    };
    let mut driven = false;
    // drive the update through (re)starts until a crash happened and it settled
    for _ in 0..8 {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(k) = kill_after {
                if !crashed && started.elapsed() >= k {
                    let _ = child.kill();
                }
            }
            if let Some(s) = child.try_wait().unwrap() {
                use std::os::unix::process::ExitStatusExt;
                if s.signal() == Some(9) {
                    crashed = true;
                    // a client whose upload or command was cut off tries again
                    driven = false;
                }
                break;
            }
            let p = progress();
            if ready(root) {
                if !driven && !final_(&p) && !p.contains("INPROGRESS") && !p.contains("TESTING") {
                    let ok = objects.iter().all(|(sha, data)| {
                        ctrl(root, "PUT", &format!("/objects/{sha}"), data) == Some(200)
                    }) && ctrl(root, "PUT", &format!("/steps/{rev}"), state) == Some(200)
                        && ctrl(
                            root,
                            "POST",
                            "/commands",
                            format!(r#"{{"op":"LOCAL_RUN","payload":"{rev}"}}"#).as_bytes(),
                        ) == Some(200);
                    driven = ok;
                } else if final_(&p)
                    && (crashed || kill_after.is_none_or(|k| started.elapsed() < k))
                {
                    stop(child);
                    return crashed;
                }
            }
            if Instant::now() > deadline {
                stop(child);
                return crashed;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // exited (reboot, or crash): start again; after a crash, without the fault
        child = spawn(root, if crashed { None } else { fault });
    }
    stop(child);
    crashed
}

/// The invariants of docs/design/update-protocol.md on a stopped device.
fn check(root: &Path, rev: &str) -> Result<(), String> {
    let storage = root.join("storage");
    let env =
        std::fs::read(storage.join("boot/uboot.txt")).map_err(|e| format!("boot env: {e}"))?;
    let vars: BTreeMap<String, String> = env
        .split(|b| *b == 0)
        .filter(|r| !r.is_empty())
        .filter_map(|r| {
            String::from_utf8_lossy(r)
                .split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    let pv_rev = vars.get("pv_rev").cloned().unwrap_or_default();
    if pv_rev != "0" && pv_rev != rev {
        return Err(format!("pv_rev is {pv_rev:?}"));
    }
    // I1/I2: every revision the env names is complete, objects correct
    for r in [Some(&pv_rev), vars.get("pv_try")]
        .into_iter()
        .flatten()
        .filter(|r| !r.is_empty())
    {
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
    }
    // I3: DONE exactly when committed
    let progress = std::fs::read_to_string(storage.join("trails").join(rev).join(".pv/progress"))
        .unwrap_or_default();
    let done = progress.contains("\"DONE\"");
    if done != (pv_rev == rev) {
        return Err(format!("pv_rev {pv_rev} but progress of {rev}: {progress}"));
    }
    if done && !storage.join("trails").join(rev).join(".pv/done").exists() {
        return Err("DONE without .pv/done".into());
    }
    // the device runs a complete revision: the last DONE or the new one
    let current = std::fs::read_link(storage.join("trails/current"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    if current != pv_rev && current != rev {
        return Err(format!("running {current}, pv_rev {pv_rev}"));
    }
    // I5: nothing left half-written
    let out = Command::new("find")
        .arg(&storage)
        .args(["-name", "*pvtmp*"])
        .output()
        .unwrap();
    if !out.stdout.is_empty() {
        return Err(format!(
            "temp files left: {}",
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    if storage
        .join("trails")
        .join(rev)
        .join(".pv/progress.commit")
        .exists()
    {
        return Err("prepared commit left".into());
    }
    Ok(())
}

/// The fault points an update passes through, with how often.
fn points(base: &Base, root: &Path, which: usize) -> Vec<(String, usize)> {
    let log = base.dir.path().join(format!("points-{which}.log"));
    let _ = std::fs::remove_file(&log);
    std::env::set_var("PV_FAULT_LOG", &log);
    run_once(base, root, which, None, None);
    std::env::remove_var("PV_FAULT_LOG");
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for l in std::fs::read_to_string(&log).unwrap_or_default().lines() {
        *counts.entry(l.to_string()).or_default() += 1;
    }
    counts.into_iter().collect()
}

#[test]
fn updates_survive_crashes_at_every_durable_step() {
    if !can_run() {
        return;
    }
    let budget: usize = std::env::var("PV_CRASH_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(700);
    let t0 = Instant::now();
    let base = base();
    let root = base.dir.path().join("run-1");
    let mut crashes = 0usize;
    let mut failures = vec![];
    let mut schedule: Vec<(usize, Option<String>, Option<Duration>)> = vec![];
    for which in 0..base.updates.len() {
        for (p, n) in points(&base, &root, which) {
            for k in 1..=n.min(4) {
                schedule.push((which, Some(format!("{p}@{k}")), None));
            }
        }
    }
    assert!(
        schedule.len() > 20,
        "too few fault points: {}",
        schedule.len()
    );
    // then random instants (deterministic pseudo-random sequence)
    let mut x: u64 = 0x9e3779b97f4a7c15;
    while schedule.len() < budget.max(schedule.len()) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        schedule.push((
            (x % 2) as usize,
            None,
            Some(Duration::from_millis(200 + x % 2500)),
        ));
    }
    schedule.truncate(budget.max(1));
    if let Ok(only) = std::env::var("PV_CRASH_ONLY") {
        schedule.retain(|(_, f, _)| f.as_deref() == Some(only.as_str()));
    }
    for (which, fault, kill) in &schedule {
        let t = Instant::now();
        let crashed = run_once(&base, &root, *which, fault.as_deref(), *kill);
        if std::env::var_os("PV_CRASH_VERBOSE").is_some() {
            eprintln!(
                "{:?} {:?} {:?}: crashed={crashed} {:.1}s",
                which,
                fault,
                kill,
                t.elapsed().as_secs_f64()
            );
        }
        crashes += crashed as usize;
        let rev = format!("locals/{}", base.updates[*which].0);
        if let Err(e) = check(&root, &rev) {
            failures.push(format!("{:?} {:?}: {e}", fault, kill));
        }
    }
    let summary = format!(
        "crash harness: {} runs, {} crashes injected, {} invariant failures, {:.0} s",
        schedule.len(),
        crashes,
        failures.len(),
        t0.elapsed().as_secs_f64()
    );
    println!("{summary}");
    if let Ok(p) = std::env::var("PV_CRASH_REPORT") {
        use std::io::Write;
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .and_then(|mut f| writeln!(f, "{summary}"));
    }
    assert!(failures.is_empty(), "{summary}\n{}", failures.join("\n"));
}
