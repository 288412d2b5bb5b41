//! The schedule: fault-point discovery, duration estimates and the plan
//! of each run.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use crate::runner::{Anchor, Plan, DRIVE_MARK, MAX_INSTANCES};
use crate::scenarios::{Base, Scenario};

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
pub(crate) fn faults_of(sc: &Scenario, log_dir: &Path) -> Vec<(usize, String, u8, usize)> {
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
pub(crate) enum What {
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
pub(crate) struct Entry {
    pub(crate) sc: usize,
    pub(crate) what: What,
}

/// Durations of each scenario (upload, command to settled): the last few
/// measurements; the kills use their median.
pub(crate) struct Estimates(pub(crate) Mutex<Vec<Vec<(Duration, Duration)>>>);

impl Estimates {
    pub(crate) fn add(&self, sc: usize, upload: Duration, run: Duration) {
        let mut g = self.0.lock().unwrap();
        let v = &mut g[sc];
        v.push((upload, run));
        if v.len() > 5 {
            v.remove(0);
        }
    }
    pub(crate) fn get(&self, sc: usize) -> (Duration, Duration) {
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
pub(crate) fn plan_of(e: &Entry, est: &Estimates) -> Plan {
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

pub(crate) fn describe(base: &Base, e: &Entry, plan: &Plan) -> String {
    let sc = &base.scenarios[e.sc].name;
    match (&e.what, &plan.kill) {
        (What::Fault(i, f), _) => format!("{sc}:{i}:{f}"),
        (What::Kill(..), Some((a, d))) => {
            format!("{sc}: kill {:?}+{:.1} ms", a, d.as_secs_f64() * 1000.0)
        }
        _ => format!("{sc}: calibration"),
    }
}
