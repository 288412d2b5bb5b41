//! The runtime in appengine mode with real containers (needs root).

mod device;

use device::{assert_clean, can_run, checkout, edit_run_json, start, App};

#[test]
fn factory_boot_isolation_volumes_and_clean_stop() {
    if !can_run() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let mgmt = "echo mgmt-up; echo kept > /data/kept; ls /pantavisor > /tmp/x; echo sees=$(ls /pantavisor | grep -c pv-ctrl-log); exec sleep 100000 # marker-boot";
    let app = "echo pid=$$; echo host=$(hostname); cat /etc/motd; \
        grep -q ' / overlay ' /proc/mounts && echo root=overlay; \
        test -e /data/kept && echo perm-survived; test -e /was-here && echo boot-survived; touch /was-here; \
        echo perm > /data/kept; echo checks-done; exec sleep 100000 # marker-boot";
    let mut m = App::new("mgmt", "platform", mgmt);
    m.args = vec![r#"PV_ROLES=["mgmt"]"#.into()];
    m.volumes = vec!["/data:permanent".into()];
    let mut a = App::new("app", "app", app);
    a.volumes = vec!["/data:permanent".into()];
    let repo = checkout(d.path(), &[m, a], |r| {
        std::fs::create_dir_all(r.join("_config/app/etc")).unwrap();
        std::fs::write(r.join("_config/app/etc/motd"), "from _config\n").unwrap();
    });
    let dev = start(d.path(), Some(&repo));
    assert!(
        dev.wait_log("status READY", 30),
        "revision never became READY"
    );
    assert!(device::wait(10, || dev
        .console("0", "app")
        .contains("root=overlay")));
    let out = dev.console("0", "app");
    assert!(out.contains("pid=1\n"), "{out}");
    assert!(out.contains("host=app\n"), "{out}");
    assert!(out.contains("from _config"), "{out}");
    assert!(
        !out.contains("perm-survived") && !out.contains("boot-survived"),
        "{out}"
    );
    assert!(
        dev.console("0", "mgmt").contains("sees=1"),
        "mgmt sees the run dir: {}",
        dev.console("0", "mgmt")
    );
    assert_eq!(
        dev.progress("0"),
        r#"{"status":"DONE","status-msg":"Factory revision","progress":100,"retries":0}"#
    );
    assert!(dev.storage.join("trails/0/.pv/done").exists());
    assert_eq!(
        std::fs::read_link(dev.storage.join("trails/current"))
            .unwrap()
            .to_str(),
        Some("0")
    );
    assert_eq!(dev.devmeta("pantavisor.revision"), "0");
    assert_eq!(dev.devmeta("pantavisor.status"), "READY");
    assert!(
        std::fs::read_to_string(dev.storage.join("logs/0/pantavisor/pantavisor.log"))
            .unwrap()
            .contains("status READY")
    );
    let storage = dev.storage.clone();
    assert_eq!(dev.stop(), 0, "SIGTERM is a reboot: exit 0");
    assert_clean(d.path(), "marker-boot");

    // start again with the same flags: resumes from disk; permanent data
    // survives, the boot-persistent overlay does not
    let dev = start(d.path(), None);
    assert!(dev.wait_log("status READY", 30));
    assert!(device::wait(10, || dev
        .console("0", "app")
        .matches("checks-done")
        .count()
        == 2));
    let second = dev.console("0", "app");
    let second = second.rsplit("pid=1").next().unwrap();
    assert!(second.contains("perm-survived"), "{second}");
    assert!(!second.contains("boot-survived"), "{second}");
    assert_eq!(
        std::fs::read_to_string(storage.join("disks/perm/app/docker--data/kept")).unwrap(),
        "perm\n"
    );
    assert_eq!(
        dev.stop_with(nix::sys::signal::Signal::SIGINT),
        3,
        "SIGINT is a power-off: exit 3"
    );
    assert_clean(d.path(), "marker-boot");
}

#[test]
fn auto_recovery_retries_with_backoff_then_gives_up() {
    if !can_run() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let keep = App::new("keeper", "platform", "exec sleep 100000 # marker-recovery");
    let flaky = App::new("flaky", "app", "echo started; exit 7 # marker-recovery");
    let repo = checkout(d.path(), &[keep, flaky], |r| {
        edit_run_json(r, "flaky", |m| {
            m.insert(
                "auto_recovery".into(),
                serde_json::json!({"policy":"always","max_retries":2,"retry_delay":1,"backoff_factor":2.0,"backoff_policy":"never"}),
            );
        });
    });
    let t0 = std::time::Instant::now();
    let mut dev = start(d.path(), Some(&repo));
    assert!(
        dev.wait_log("max_retries exhausted, left stopped", 30),
        "never gave up"
    );
    let took = t0.elapsed().as_secs_f64();
    // first run, retry after 1 s, retry after 2 s
    assert_eq!(dev.console("0", "flaky").matches("started").count(), 3);
    assert!(took >= 3.0, "backoff delays were not applied ({took}s)");
    assert!(dev.log.lock().unwrap().contains("restart 2 in 2s"));
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        dev.wait_exit(1).is_none(),
        "backoff_policy never must not reboot"
    );
    assert_eq!(dev.stop(), 0);
    assert_clean(d.path(), "marker-recovery");
}

#[test]
fn a_container_that_cannot_start_reboots_without_leaving_mounts() {
    if !can_run() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let ok = App::new("fine", "platform", "exec sleep 100000 # marker-broken");
    let bad = App::new("broken", "platform", "exit 0");
    let repo = checkout(d.path(), &[ok, bad], |r| {
        edit_run_json(r, "broken", |_| {});
        // its init does not exist in the image
        let conf = r.join("broken/lxc.container.conf");
        let text = std::fs::read_to_string(&conf).unwrap();
        let text: String = text
            .lines()
            .map(|l| {
                if l.starts_with("lxc.init.cmd") {
                    "lxc.init.cmd = /no/such/init".to_string()
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&conf, text).unwrap();
    });
    let mut dev = start(d.path(), Some(&repo));
    assert_eq!(
        dev.wait_exit(30),
        Some(0),
        "a failed system container reboots (exit 0)"
    );
    let log = dev.log.lock().unwrap().clone();
    assert!(
        log.contains("container broken exited with code 127")
            || log.contains("broken: could not be started"),
        "{log}"
    );
    assert!(
        dev.console("0", "broken").contains("/no/such/init"),
        "the reason is in the container log"
    );
    assert_clean(d.path(), "marker-broken");
}

#[test]
fn bad_states_are_refused_with_a_clear_message() {
    if !can_run() {
        return;
    }
    // an unknown group: the revision does not run, the runtime stays up
    let d = tempfile::tempdir().unwrap();
    let repo = checkout(
        d.path(),
        &[App::new("x", "app", "exec sleep 100000 # marker-bad")],
        |r| {
            edit_run_json(r, "x", |m| {
                m.insert("group".into(), "nope".into());
            });
        },
    );
    let mut dev = start(d.path(), Some(&repo));
    assert!(dev.wait_log("group \"nope\" does not exist", 20));
    assert!(
        device::wait(5, || dev
            .progress("0")
            .contains("State JSON has bad format")),
        "{}",
        dev.progress("0")
    );
    assert!(dev.wait_exit(1).is_none(), "the runtime must not crash");
    assert!(device::mounts_under(d.path()).is_empty());
    assert_eq!(dev.stop(), 0);

    // an object corrupted on disk: refused at boot
    let d = tempfile::tempdir().unwrap();
    let repo = checkout(
        d.path(),
        &[App::new("y", "app", "exec sleep 100000 # marker-bad")],
        |_| {},
    );
    let dev = start(d.path(), Some(&repo));
    assert!(dev.wait_log("status READY", 30));
    let storage = dev.storage.clone();
    assert_eq!(dev.stop(), 0);
    let conf = storage.join("trails/0/y/lxc.container.conf");
    let mut perms = std::fs::metadata(&conf).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o644);
    std::fs::set_permissions(&conf, perms).unwrap();
    std::fs::write(&conf, "lxc.init.cmd = /bin/evil\n").unwrap();
    let mut dev = start(d.path(), None);
    assert!(dev.wait_log("bad checksum", 20));
    assert!(
        device::wait(5, || dev
            .progress("0")
            .contains("Object validation went wrong")),
        "{}",
        dev.progress("0")
    );
    assert!(dev.wait_exit(1).is_none());
    assert_eq!(dev.stop(), 0);
    assert_clean(d.path(), "marker-bad");
}

#[test]
fn without_a_config_file_the_defaults_and_a_named_one_must_exist() {
    if !can_run() {
        return;
    }
    // a named file that is missing: exit 1 naming it, before anything runs
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("pantavisor.config"), "").unwrap();
    let missing = d.path().join("missing.config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pantavisor"))
        .arg("--storage")
        .arg(d.path().join("storage"))
        .arg("--run-dir")
        .arg(d.path().join("run"))
        .arg("--config")
        .arg(&missing)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("missing.config"), "{err}");

    // no --config and no /etc/pantavisor.config: defaults, one warning
    if !pv_testkit::require_absent("/etc/pantavisor.config") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let repo = checkout(
        d.path(),
        &[App::new("z", "app", "exec sleep 100000 # marker-noconf")],
        |_| {},
    );
    let dev = device::start_with(d.path(), Some(&repo), false);
    assert!(dev.wait_log("status READY", 30), "started on defaults");
    assert_eq!(dev.log_count("starting on defaults"), 1);
    assert_eq!(dev.stop(), 0);
    assert_clean(d.path(), "marker-noconf");
}
