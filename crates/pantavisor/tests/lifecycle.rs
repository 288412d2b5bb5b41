//! The engine driven directly: lifecycle control of containers and group
//! gating by status goals (needs root).

mod device;

use std::path::Path;
use std::time::{Duration, Instant};

use device::{assert_clean, can_run, checkout, App};
use pv_runtime::engine::{Action, ActionError, Engine, Verdict};
use pv_runtime::layout::Layout;
use pv_runtime::model::Status;

fn engine(dir: &Path, repo: &Path) -> Engine {
    let layout = Layout::new(&dir.join("storage"), &dir.join("run"));
    layout.create().unwrap();
    pv_runtime::factory::seed(&layout, repo).unwrap();
    let (_, state) = pv_runtime::trail::read_state(&layout, "0").unwrap();
    let model = pv_runtime::model::parse(&state, Duration::from_secs(120)).unwrap();
    let mut e = Engine::new("0", model, layout, env!("CARGO_BIN_EXE_pantavisor").into());
    e.stop_grace = Duration::from_millis(500);
    e
}

fn tick_until(e: &mut Engine, secs: u64, mut f: impl FnMut(&Engine) -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        assert_eq!(e.tick(), Verdict::Continue);
        if f(e) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    false
}

fn status(e: &Engine, name: &str) -> Status {
    e.platforms
        .iter()
        .find(|p| p.name() == name)
        .unwrap()
        .status
}

fn pid(e: &Engine, name: &str) -> i32 {
    e.platforms.iter().find(|p| p.name() == name).unwrap().pid
}

#[test]
fn stop_start_restart_of_container_policy_containers() {
    if !can_run() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let repo = checkout(
        d.path(),
        &[
            App::new("sys", "platform", "exec sleep 100000 # marker-life"),
            App::new("svc", "app", "exec sleep 100000 # marker-life"),
        ],
        |_| {},
    );
    let mut e = engine(d.path(), &repo);
    assert!(tick_until(&mut e, 20, |e| status(e, "svc")
        == Status::Started
        && status(e, "sys") == Status::Started));
    let first = pid(&e, "svc");
    assert_eq!(
        e.container_action("sys", Action::Stop),
        Err(ActionError::SystemPolicy("sys".into()))
    );
    assert!(matches!(
        e.container_action("nope", Action::Stop),
        Err(ActionError::NotFound(_))
    ));
    assert_eq!(
        e.container_action("svc", Action::Start),
        Ok(()),
        "start of a running container is a no-op"
    );

    e.container_action("svc", Action::Stop).unwrap();
    assert!(tick_until(&mut e, 10, |e| status(e, "svc") == Status::Stopped));
    let svc_vols = e.layout.voldir.join("svc");
    assert!(
        device::mounts_under(&svc_vols).is_empty(),
        "volumes unmounted when STOPPED"
    );
    assert!(
        e.platforms
            .iter()
            .find(|p| p.name() == "svc")
            .unwrap()
            .user_stopped
    );
    assert!(
        !tick_until(&mut e, 1, |e| status(e, "svc") != Status::Stopped),
        "a user-stopped container stays stopped"
    );
    assert!(matches!(e.container_action("svc", Action::Restart), Ok(())));
    assert!(tick_until(&mut e, 10, |e| status(e, "svc") == Status::Started));
    let second = pid(&e, "svc");
    assert_ne!(first, second);

    e.container_action("svc", Action::Restart).unwrap();
    assert!(tick_until(&mut e, 10, |e| status(e, "svc")
        == Status::Started
        && pid(e, "svc") != second));
    assert_eq!(
        status(&e, "sys"),
        Status::Started,
        "the other container is untouched"
    );
    e.stop_all();
    assert_clean(d.path(), "marker-life");
}

#[test]
fn groups_wait_for_ready_goals_or_their_timeout() {
    if !can_run() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let mut first = App::new("first", "one", "exec sleep 100000 # marker-gate");
    first.status_goal = Some("READY");
    let second = App::new("second", "two", "exec sleep 100000 # marker-gate");
    let repo = checkout(d.path(), &[first, second], |r| {
        let dev = serde_json::json!({"groups": [
            {"name": "one", "status_goal": "STARTED", "restart_policy": "system", "timeout": 2},
            {"name": "two", "status_goal": "STARTED", "restart_policy": "container", "timeout": 5}
        ]});
        std::fs::write(r.join("device.json"), dev.to_string()).unwrap();
    });
    // READY signalled: the next group starts at once
    let mut e = engine(d.path(), &repo);
    assert!(tick_until(&mut e, 10, |e| status(e, "first") == Status::Started));
    tick_until(&mut e, 1, |_| false);
    assert_eq!(
        status(&e, "second"),
        Status::Blocked,
        "group two waits for first to be READY"
    );
    assert!(e.signal_ready("first"));
    assert!(
        !e.signal_ready("second"),
        "ready only counts for a READY goal"
    );
    assert!(tick_until(&mut e, 5, |e| status(e, "second") == Status::Started));
    e.stop_all();
    assert_clean(d.path(), "marker-gate");

    // never signalled: the group's 2 s timeout lets the next group go
    let d2 = tempfile::tempdir().unwrap();
    let repo2 = d2.path().join("device");
    copy_dir(&repo, &repo2);
    let mut e = engine(d2.path(), &repo2);
    let t0 = Instant::now();
    assert!(tick_until(&mut e, 10, |e| status(e, "second") == Status::Started));
    assert!(
        t0.elapsed() >= Duration::from_millis(1900),
        "started after {:?}",
        t0.elapsed()
    );
    assert_eq!(status(&e, "first"), Status::Started);
    e.stop_all();
    assert_clean(d2.path(), "marker-gate");
}

fn copy_dir(from: &Path, to: &Path) {
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}
