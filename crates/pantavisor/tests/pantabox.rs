//! `pantabox` in a real terminal (tmux) against a running device (needs
//! root and tmux): every entry of the main menu, each change checked on
//! the device through its control socket. The screens are saved under
//! `target/tmp/pantabox/`.

mod device;
mod tui;

use std::path::Path;

use device::bins::workspace_bin;
use device::{can_run, checkout, start, wait, App, Device};
use tui::Tmux;

const CONFIG: &str = "PV_SECUREBOOT_MODE=disabled\nPV_LOG_LEVEL=4\nPV_UPDATER_COMMIT_DELAY=0\nPV_UPDATER_GOALS_TIMEOUT=10\n";

fn revision(dev: &Device) -> String {
    dev.ctrl_json("/device-meta")["pantavisor.revision"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Back to the main menu (waiting for it: an Escape followed at once by a
/// key reads as Alt+key).
fn back(t: &Tmux) {
    t.keys(&["Escape"]);
    t.wait_for(&["leave pantabox"], 10);
}

/// The revision named on the "New Revision … installed!" screen.
fn new_revision(screen: &str) -> String {
    screen
        .lines()
        .filter(|l| l.contains("New Revision"))
        .flat_map(|l| l.split_whitespace())
        .find(|w| w.starts_with("locals/"))
        .unwrap_or_else(|| panic!("no new revision on screen:\n{screen}"))
        .to_string()
}

/// Move a picker's highlight onto the row starting with `item`, then Enter.
fn pick(t: &Tmux, item: &str) {
    for _ in 0..20 {
        let s = t.screen();
        if s.lines().any(|l| l.contains(&format!("> {item}"))) {
            t.keys(&["Enter"]);
            return;
        }
        t.keys(&["Down"]);
        std::thread::sleep(std::time::Duration::from_millis(150));
    }
    panic!("{item} not in the picker:\n{}", t.screen());
}

/// A rootfs whose init prints a marker and stays up.
fn app_rootfs(dir: &Path) -> std::path::PathBuf {
    let d = dir.join("newapp-src");
    std::fs::create_dir_all(&d).unwrap();
    let r = device::rootfs(&d);
    std::fs::create_dir_all(r.join("sbin")).unwrap();
    std::fs::write(
        r.join("sbin/init"),
        "#!/bin/sh\necho newapp-up\ntrap 'exit 0' TERM\nwhile true; do sleep 1; done # marker-pbx\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(r.join("sbin/init"), std::fs::Permissions::from_mode(0o755)).unwrap();
    r
}

/// A BSP package made with pvr (an export of `bsp/` parts only).
fn bsp_package(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("bsp-src");
    let cfg = dir.join("bsp-pvr");
    std::fs::create_dir_all(root.join("bsp")).unwrap();
    let repo = pvr_core::Repo::init(&root, &cfg, None, None).unwrap();
    std::fs::write(
        root.join("bsp/run.json"),
        r#"{"initrd":"pantavisor","linux":"kernel.img"}"#,
    )
    .unwrap();
    std::fs::write(root.join("bsp/kernel.img"), "a kernel v2").unwrap();
    std::fs::write(root.join("bsp/pantavisor"), "an initrd v2").unwrap();
    let q = pvr_core::progress::Progress::quiet();
    pvr_core::working::add(&repo, &[], false, &q).unwrap();
    pvr_core::commit::commit(&repo, Some("bsp"), &mut std::io::sink(), &q).unwrap();
    let out = dir.join("bsp.tgz");
    pvr_core::export::export(
        &repo,
        &pvr_core::parts::Parts::parse(""),
        out.to_str().unwrap(),
    )
    .unwrap();
    out
}

#[test]
fn pantabox_menu_against_a_running_device() {
    if !can_run() || !pv_testkit::require_tools(&["tmux", "python3"]) {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("pantavisor.config"), CONFIG).unwrap();
    let sys = App::new(
        "sys",
        "platform",
        "trap 'exit 0' TERM; while true; do sleep 1; done # marker-pbx",
    );
    let app = App::new(
        "app",
        "app",
        "trap 'exit 0' TERM; echo app-up; while true; do sleep 1; done # marker-pbx",
    );
    let repo = checkout(d.path(), &[sys, app], |r| {
        let dev = serde_json::json!({"groups": [
            {"name": "platform", "status_goal": "STARTED", "restart_policy": "system", "timeout": 10},
            {"name": "app", "status_goal": "STARTED", "restart_policy": "container", "timeout": 10}
        ]});
        std::fs::write(r.join("device.json"), dev.to_string()).unwrap();
    });
    let mut dev = start(d.path(), Some(&repo));
    assert!(dev.wait_log("status READY", 30));
    let rootfs = app_rootfs(d.path());
    let bsp = bsp_package(d.path());
    // the editor: marks app/run.json
    let editor = d.path().join("editor.py");
    std::fs::write(
        &editor,
        "import json,sys\np=sys.argv[1]\ns=json.load(open(p))\ns['app/run.json']['x-pantabox']='edited'\njson.dump(s,open(p,'w'))\n",
    )
    .unwrap();
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pantabox");
    let _ = std::fs::remove_dir_all(&out);
    let cmd = format!(
        "env TERM=xterm-256color EDITOR='python3 {}' {} --socket {} --logs {}",
        editor.display(),
        workspace_bin("pantabox").display(),
        dev.socket().display(),
        dev.storage.join("logs").display()
    );
    let mut t = Tmux::start("pantabox", &cmd, &out, 120, 40);
    t.wait_for(&["Pantabox", "install", "0[DONE]"], 20);
    t.shot("menu");

    // view: the revision and its containers with their groups
    t.keys(&["v"]);
    let s = t.wait_for(&["Revision: 0", "CONTAINER", "platform", "State:"], 10);
    assert!(s.contains("sys") && s.contains("app"), "{s}");
    t.shot("view");
    back(&t);

    // info: device metadata
    t.keys(&["n"]);
    t.wait_for(
        &["Device Info:", "pantavisor.revision: 0", "User Meta:"],
        10,
    );
    t.shot("info");
    back(&t);

    // install an app from a rootfs, run it
    t.keys(&["i"]);
    t.wait_for(&["install an app", "from (image or rootfs)"], 10);
    t.type_text("newapp");
    t.keys(&["Tab"]);
    t.type_text(rootfs.to_str().unwrap());
    t.keys(&["Tab"]);
    t.type_text("app");
    t.wait_for(&["[app"], 10);
    t.shot("install-form");
    t.keys(&["Enter"]);
    let s = t.wait_for(&["installed!", "Do you want to run it now?"], 60);
    let rev1 = new_revision(&s);
    t.shot("install-run-now");
    t.keys(&["y"]);
    t.wait_for(&["UPDATED", "finished"], 60);
    t.shot("install-progress");
    assert_eq!(revision(&dev), rev1);
    assert!(dev.container_names().contains(&"newapp".to_string()));
    assert!(
        wait(10, || dev.console(&rev1, "newapp").contains("newapp-up")),
        "the installed app runs"
    );
    back(&t);

    // logs of the new app, then of the runtime
    t.keys(&["l"]);
    t.wait_for(&["logs of", "pantavisor (the runtime)"], 10);
    pick(&t, "newapp");
    t.wait_for(&["newapp-up"], 10);
    t.shot("logs-newapp");
    back(&t);
    t.keys(&["l"]);
    t.wait_for(&["pantavisor (the runtime)"], 10);
    pick(&t, "pantavisor");
    t.wait_for(&["logs of pantavisor"], 10);
    t.shot("logs-pantavisor");
    back(&t);

    // remove it again
    t.keys(&["r"]);
    t.wait_for(&["remove which app?"], 10);
    pick(&t, "newapp");
    let s = t.wait_for(&["installed!"], 30);
    let rev2 = new_revision(&s);
    assert_ne!(rev1, rev2);
    t.keys(&["y"]);
    t.wait_for(&["UPDATED", "finished"], 60);
    t.shot("remove-progress");
    assert_eq!(revision(&dev), rev2);
    assert!(!dev.container_names().contains(&"newapp".to_string()));
    back(&t);

    // edit the state in $EDITOR and commit it
    t.keys(&["e"]);
    let s = t.wait_for(&["installed!"], 30);
    let rev3 = new_revision(&s);
    t.keys(&["y"]);
    t.wait_for(&["UPDATED", "finished"], 60);
    t.shot("edit-progress");
    assert_eq!(revision(&dev), rev3);
    let (_, state) = dev.ctrl("GET", "/steps/current", b"");
    assert!(state.contains(r#""x-pantabox":"edited""#), "{state}");
    back(&t);

    // claim: no hub here
    t.keys(&["c"]);
    t.wait_for(&["Hub:", "Device id: (not registered yet)"], 10);
    t.shot("claim");
    back(&t);

    // goto: back to the factory revision
    t.keys(&["g"]);
    t.wait_for(&["run which revision?", &rev1], 10);
    t.shot("goto");
    pick(&t, "0 ");
    t.wait_for(&["finished"], 60);
    assert_eq!(revision(&dev), "0");
    back(&t);

    // update the BSP: a reboot update
    t.keys(&["u"]);
    t.wait_for(&["update the BSP"], 10);
    t.type_text(bsp.to_str().unwrap());
    t.keys(&["Enter"]);
    let s = t.wait_for(&["installed!"], 30);
    let rev4 = new_revision(&s);
    t.shot("update-run-now");
    t.keys(&["y"]);
    assert_eq!(dev.wait_exit(30), Some(0), "a BSP update reboots");
    let dev = start(d.path(), None);
    assert!(
        dev.wait_progress(&rev4, "DONE", 30),
        "{}",
        dev.progress(&rev4)
    );
    t.wait_for(&[&format!("{rev4}[DONE]")], 20);
    t.shot("update-done");
    assert_eq!(revision(&dev), rev4);
    let (_, state) = dev.ctrl("GET", "/steps/current", b"");
    assert!(state.contains(r#""bsp/run.json""#), "{state}");

    back(&t);
    t.keys(&["q"]);
    assert!(wait(5, || t.screen().contains("Pane is dead")
        || !t.screen().contains("Pantabox")));
    drop(t);
    assert_eq!(dev.stop(), 0);
}
