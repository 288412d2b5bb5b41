//! Local updates through the control socket: non-reboot, reboot, and a
//! failing update that rolls back (needs root).

mod device;

use device::{assert_clean, can_run, checkout, commit, start, App, Device};

const CONFIG: &str = "PV_SECUREBOOT_MODE=disabled\nPV_LOG_LEVEL=4\nPV_UPDATER_COMMIT_DELAY=1\nPV_UPDATER_GOALS_TIMEOUT=10\n";

/// The device of a test; `marker` (its own per test: tests run in
/// parallel) ends each container's command line.
fn device(d: &std::path::Path, marker: &str) -> (std::path::PathBuf, Device) {
    std::fs::write(d.join("pantavisor.config"), CONFIG).unwrap();
    let sys_script = format!("trap 'exit 0' TERM; while true; do sleep 1; done # {marker}");
    let app_script =
        format!("trap 'exit 0' TERM; cat /etc/motd; while true; do sleep 1; done # {marker}");
    let sys = App::new("sys", "platform", &sys_script);
    let app = App::new("app", "app", &app_script);
    let repo = checkout(d, &[sys, app], |r| {
        // the app group waits 2 s of stability before an update commits
        let dev = serde_json::json!({"groups": [
            {"name": "platform", "status_goal": "STARTED", "restart_policy": "system", "timeout": 10},
            {"name": "app", "status_goal": "STARTED", "restart_policy": "container", "timeout": 10,
             "auto_recovery": {"policy": "on-failure", "max_retries": 3, "retry_delay": 1, "stable_timeout": 2}}
        ]});
        std::fs::write(r.join("device.json"), dev.to_string()).unwrap();
        std::fs::create_dir_all(r.join("_config/app/etc")).unwrap();
        std::fs::write(r.join("_config/app/etc/motd"), "v1\n").unwrap();
    });
    let dev = start(d, Some(&repo));
    assert!(dev.wait_log("status READY", 30));
    assert!(device::wait(10, || dev.socket().exists()));
    (repo, dev)
}

/// The host PID of a container's init (a new one per start), from the
/// pid file the runtime writes, checked against the running processes.
fn pid_of(dev: &Device, name: &str) -> String {
    let file = format!("{}.internal/containers/{name}/init.pid", dev.run.display());
    let pid = std::fs::read_to_string(file).unwrap_or_default();
    assert!(
        std::path::Path::new("/proc")
            .join(&pid)
            .join("exe")
            .exists(),
        "init of {name} ({pid:?}) is not running"
    );
    pid
}

#[test]
fn non_reboot_update_restarts_only_what_changed() {
    if !can_run() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let (repo, dev) = device(d.path(), "marker-upd-nonreboot");
    let sys_pid = pid_of(&dev, "sys");
    let app_pid = pid_of(&dev, "app");
    commit(&repo, &d.path().join("pvr-config"), |r| {
        std::fs::write(r.join("_config/app/etc/motd"), "v2\n").unwrap()
    });
    let rev = dev.upload(&repo, &d.path().join("pvr-config"), "t1");
    assert!(
        dev.progress(&rev).contains("Update ready to be run"),
        "{}",
        dev.progress(&rev)
    );
    let (s, b) = dev.run_local(&rev);
    assert_eq!(s, 200, "{b}");
    assert!(
        dev.wait_progress(&rev, "UPDATED", 30),
        "{}",
        dev.progress(&rev)
    );
    assert_eq!(
        dev.progress(&rev),
        r#"{"status":"UPDATED","status-msg":"Update finished, revision not set as rollback point","progress":100,"retries":0}"#
    );
    assert_eq!(
        pid_of(&dev, "sys"),
        sys_pid,
        "untouched containers keep their PIDs"
    );
    assert_ne!(pid_of(&dev, "app"), app_pid);
    assert!(
        device::wait(5, || dev.console(&rev, "app").contains("v2")),
        "{}",
        dev.console(&rev, "app")
    );
    assert_eq!(
        dev.boot_env(),
        ("0".to_string(), rev.clone()),
        "pv_try set, pv_rev unchanged"
    );
    let log = dev.log.lock().unwrap().clone();
    for m in [
        "INPROGRESS Transitioning to new revision without rebooting",
        "INPROGRESS Trying new revision",
        "TESTING Awaiting to see if update is stable",
        "TESTING Waiting for all containers to become stable",
    ] {
        assert!(log.contains(m), "missing {m}");
    }
    // a reboot now tries it and makes it the rollback point
    assert_eq!(dev.stop(), 0);
    let dev = start(d.path(), None);
    assert!(
        dev.wait_progress(&rev, "DONE", 30),
        "{}",
        dev.progress(&rev)
    );
    assert_eq!(dev.boot_env(), (rev.clone(), String::new()));
    // DONE is published (progress renamed) just before `.pv/done` is written
    let done = dev.storage.join("trails/locals/t1/.pv/done");
    assert!(
        device::wait(5, || done.exists()),
        "{} missing",
        done.display()
    );
    assert_eq!(dev.stop(), 0);
    assert_clean(d.path(), "marker-upd-nonreboot");
}

#[test]
fn reboot_update_then_a_failing_one_rolls_back() {
    if !can_run() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let cfgdir = d.path().join("pvr-config");
    let (repo, mut dev) = device(d.path(), "marker-upd-reboot");
    // a change of a system container needs a reboot
    commit(&repo, &cfgdir, |r| {
        std::fs::create_dir_all(r.join("_config/sys/etc")).unwrap();
        std::fs::write(r.join("_config/sys/etc/motd"), "sys v2\n").unwrap();
    });
    let rev = dev.upload(&repo, &cfgdir, "reboot");
    assert_eq!(dev.run_local(&rev).0, 200);
    assert_eq!(dev.wait_exit(30), Some(0), "the device reboots");
    assert!(dev.progress(&rev).contains("Rebooting"));
    let dev = start(d.path(), None);
    assert!(
        dev.wait_progress(&rev, "DONE", 30),
        "{}",
        dev.progress(&rev)
    );
    assert_eq!(
        dev.progress(&rev),
        r#"{"status":"DONE","status-msg":"Update finished, revision set as rollback point","progress":100,"retries":0}"#
    );
    assert_eq!(dev.boot_env(), (rev.clone(), String::new()));

    // now break the system container's init: the update fails and rolls back
    commit(&repo, &cfgdir, |r| {
        let conf = r.join("sys/lxc.container.conf");
        let text = std::fs::read_to_string(&conf).unwrap();
        let text: Vec<String> = text
            .lines()
            .map(|l| {
                if l.starts_with("lxc.init.cmd") {
                    "lxc.init.cmd = /missing".into()
                } else {
                    l.into()
                }
            })
            .collect();
        std::fs::write(&conf, text.join("\n")).unwrap();
    });
    let bad = dev.upload(&repo, &cfgdir, "error");
    assert_eq!(dev.run_local(&bad).0, 200);
    let mut dev = dev;
    assert_eq!(dev.wait_exit(30), Some(0));
    let dev = start(d.path(), None);
    // tried once, failed, rebooted
    let mut dev = dev;
    assert_eq!(
        dev.wait_exit(30),
        Some(0),
        "the failed try reboots into the rollback point"
    );
    let p = dev.progress(&bad);
    assert!(
        p.contains(r#""status":"ERROR","status-msg":"A container could not be started""#),
        "{p}"
    );
    assert!(
        p.contains(r#""logs":""#),
        "the errors are in the progress: {p}"
    );
    let dev = start(d.path(), None);
    assert!(dev.wait_log("status READY", 30));
    assert_eq!(
        dev.boot_env(),
        (rev.clone(), String::new()),
        "pv_try cleared, rollback point kept"
    );
    assert_eq!(
        std::fs::read_link(dev.storage.join("trails/current"))
            .unwrap()
            .to_str(),
        Some(rev.as_str())
    );
    assert_eq!(dev.stop(), 0);
    assert_clean(d.path(), "marker-upd-reboot");
}
