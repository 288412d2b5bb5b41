//! The `pvcontrol` CLI against a real running device (needs root): every
//! family of subcommands, exit codes, and a local update installed from a
//! pvr export and run with `cmd run`.

mod device;

use std::path::Path;
use std::process::Command;

use device::bins::workspace_bin;
use device::{can_run, checkout, commit, start, App};

/// Run pvcontrol; (exit code, stdout, stderr).
fn pvc(socket: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(workspace_bin("pvcontrol"))
        .arg("-s")
        .arg(socket)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn pvcontrol_against_a_running_device() {
    if !can_run() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("pantavisor.config"),
        "PV_SECUREBOOT_MODE=disabled\nPV_LOG_LEVEL=4\nPV_UPDATER_COMMIT_DELAY=0\n",
    )
    .unwrap();
    let app =
        "echo app-up; cat /etc/motd; trap 'exit 0' TERM; while true; do sleep 1; done # marker-pvc";
    let repo = checkout(d.path(), &[App::new("app", "app", app)], |r| {
        let dev = serde_json::json!({"groups": [
            {"name": "app", "status_goal": "STARTED", "restart_policy": "container", "timeout": 10,
             "auto_recovery": {"policy": "on-failure", "stable_timeout": 1}}
        ]});
        std::fs::write(r.join("device.json"), dev.to_string()).unwrap();
    });
    let dev = start(d.path(), Some(&repo));
    assert!(dev.wait_log("status READY", 30));
    let s = dev.socket();

    // no socket: usage error with a clear message
    let (c, o, e) = pvc(&d.path().join("nope"), &["ls"]);
    assert_eq!(c, 1, "exit {c}: {e}");
    assert!(format!("{o}{e}").contains("nope"), "{o}{e}");

    let (c, o, e) = pvc(&s, &["ls"]);
    assert_eq!(c, 0, "{e}");
    assert!(o.contains("app"), "{o}");
    let (c, o, _) = pvc(&s, &["--json", "groups", "ls"]);
    assert_eq!(c, 0);
    let groups: serde_json::Value = serde_json::from_str(&o).unwrap();
    assert_eq!(groups[0]["name"], "app", "{o}");

    // metadata round trips
    let (c, o, _) = pvc(&s, &["devmeta", "ls"]);
    assert_eq!(c, 0);
    assert!(o.contains("pantavisor.revision"), "{o}");
    assert_eq!(pvc(&s, &["usrmeta", "save", "color", "blue"]).0, 0);
    assert!(pvc(&s, &["usrmeta", "ls"]).1.contains("blue"));
    assert_eq!(pvc(&s, &["usrmeta", "delete", "color"]).0, 0);
    assert_ne!(
        pvc(&s, &["usrmeta", "delete", "color"]).0,
        0,
        "already gone"
    );

    // objects: ls, get verifies, put with a wrong sha is refused (60)
    let (c, o, _) = pvc(&s, &["--json", "objects", "ls"]);
    assert_eq!(c, 0);
    let objs: serde_json::Value = serde_json::from_str(&o).unwrap();
    let first = objs[0]["sha256"]
        .as_str()
        .or_else(|| objs[0]["sha"].as_str())
        .or_else(|| objs[0].as_str())
        .unwrap_or_else(|| panic!("{o}"))
        .to_string();
    let got = d.path().join("got");
    let (c, _, e) = pvc(&s, &["-f", got.to_str().unwrap(), "objects", "get", &first]);
    assert_eq!(c, 0, "{e}");
    let bytes = std::fs::read(&got).unwrap();
    assert_eq!(
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
        first
    );
    let junk = d.path().join("junk");
    std::fs::write(&junk, b"junk").unwrap();
    let absent = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"something else"));
    let (c, _, _) = pvc(&s, &["objects", "put", junk.to_str().unwrap(), &absent]);
    assert_eq!(c, 60, "bad checksum exit code");
    assert!(!dev.storage.join("objects").join(&absent).exists());

    // steps: ls, get current, progress of the factory revision
    let (c, o, _) = pvc(&s, &["steps", "ls"]);
    assert_eq!(c, 0);
    assert!(o.contains("\"0\"") || o.contains(" 0"), "{o}");
    let (c, o, _) = pvc(&s, &["steps", "get", "current"]);
    assert_eq!(c, 0);
    let served: serde_json::Value = serde_json::from_str(&o).unwrap();
    let local: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo.join(".pvr/json")).unwrap()).unwrap();
    assert_eq!(served, local);
    let (c, o, _) = pvc(&s, &["steps", "show-progress", "0"]);
    assert_eq!(c, 0);
    assert!(o.contains("DONE"), "{o}");
    assert_eq!(pvc(&s, &["conf", "ls"]).0, 0);
    assert_eq!(pvc(&s, &["buildinfo"]).0, 0);

    // a new revision from a pvr export: install, run, wait for UPDATED
    commit(&repo, &d.path().join("pvr-config"), |r| {
        std::fs::create_dir_all(r.join("_config/app/etc")).unwrap();
        std::fs::write(r.join("_config/app/etc/motd"), "v2 from pvcontrol\n").unwrap();
    });
    let r = pvr_core::Repo::open(&repo, &d.path().join("pvr-config")).unwrap();
    let tgz = d.path().join("v2.pvrexport.tgz");
    pvr_core::export::export(&r, &Default::default(), tgz.to_str().unwrap()).unwrap();
    let (c, o, e) = pvc(
        &s,
        &["steps", "install", tgz.to_str().unwrap(), "locals/v2"],
    );
    assert_eq!(c, 0, "{o}{e}");
    assert!(o.contains("locals/v2"), "{o}");
    let (c, _, e) = pvc(&s, &["cmd", "run", "locals/v2"]);
    assert_eq!(c, 0, "{e}");
    assert!(
        dev.wait_progress("locals/v2", "UPDATED", 30),
        "{}",
        dev.progress("locals/v2")
    );
    assert!(device::wait(10, || dev
        .console("locals/v2", "app")
        .contains("v2 from pvcontrol")));
    // commands are asynchronous: running a revision that does not exist is
    // accepted, then refused by the runtime, which stays where it is
    let (c, _, _) = pvc(&s, &["cmd", "run", "locals/nothere"]);
    assert_eq!(c, 0);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        std::fs::read_link(dev.storage.join("trails/current")).unwrap(),
        Path::new("locals/v2")
    );
    dev.stop();
}
