//! The scenarios: what each run does and the stopped storage it starts
//! from (a factory boot and the prepared revisions for the GC).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::device::{self, checkout, commit, edit_run_json, App};
use crate::runner::{run_once, Plan};
use crate::runtime::{ready, stop};

/// The revision every update scenario starts from (the factory).
pub(crate) const OLD: &str = "0";

fn config(commit_delay: u64, goals_timeout: u64, keep_factory: bool) -> String {
    format!(
        "PV_SECUREBOOT_MODE=disabled\nPV_LOG_LEVEL=2\nPV_UPDATER_COMMIT_DELAY={commit_delay}\n\
         PV_UPDATER_GOALS_TIMEOUT={goals_timeout}\nPV_STORAGE_GC_KEEP_FACTORY={}\n",
        keep_factory as u8
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// UPDATED or DONE (or a legal rollback caused by the crash itself).
    Success,
    /// The new revision fails: ERROR, the device back on revision 0.
    Rollback,
}

#[derive(Clone)]
pub(crate) enum Action {
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
pub(crate) struct Scenario {
    pub(crate) name: String,
    /// Stopped storage the scenario starts from.
    pub(crate) storage: PathBuf,
    pub(crate) config: String,
    pub(crate) action: Action,
}

impl Scenario {
    pub(crate) fn rev(&self) -> Option<&str> {
        match &self.action {
            Action::Update { rev, .. } | Action::Upload { rev, .. } => Some(rev),
            Action::Gc { .. } => None,
        }
    }
}

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

pub(crate) struct Base {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) scenarios: Vec<Scenario>,
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

pub(crate) fn base() -> Base {
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
