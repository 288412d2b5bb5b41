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

#[path = "crash/checks.rs"]
mod checks;
#[path = "crash/plan.rs"]
mod plan;
#[path = "crash/runner.rs"]
mod runner;
#[path = "crash/runtime.rs"]
mod runtime;
#[path = "crash/scenarios.rs"]
mod scenarios;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use checks::check;
use device::can_run;
use plan::{describe, faults_of, plan_of, Entry, Estimates, What};
use runner::{append_line, run_once, Anchor, Plan};
use scenarios::{base, Action};

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
