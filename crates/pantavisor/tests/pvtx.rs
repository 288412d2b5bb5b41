//! pvtx against a real running device (needs root): a remote transaction
//! with the `pvtx` CLI through the control socket, and the two flows of
//! the seed's "PVTX REST API" chapter driven with curl on the LAN
//! endpoint (open: no token configured), each ending with the device
//! running the new revision. Packages are `pvr export`s of our pvr.

mod device;

use std::path::{Path, PathBuf};
use std::process::Command;

use device::bins::workspace_bin;
use device::{can_run, checkout, start, wait, write_recovering_groups, App, Device};
use serde_json::Value;

fn sleeper(name: &str) -> String {
    format!("echo {name}-up; trap 'exit 0' TERM; while true; do sleep 1; done # marker-pvtx")
}

/// A device running `base` in the app group (restart policy container:
/// changes there are non-reboot updates); with `lan`, the LAN endpoint on
/// a free port without a token. Returns the checkout, the device and the
/// endpoint's URL.
fn pvtx_device(d: &Path, lan: bool) -> (PathBuf, Device, String) {
    let port = pv_testkit::free_port();
    let mut conf =
        "PV_SECUREBOOT_MODE=disabled\nPV_LOG_LEVEL=4\nPV_UPDATER_COMMIT_DELAY=0\n".to_string();
    if lan {
        conf.push_str(&format!("PV_LAN_PVR_LISTEN=127.0.0.1:{port}\n"));
    }
    std::fs::write(d.join("pantavisor.config"), conf).unwrap();
    let script = sleeper("base");
    let repo = checkout(
        d,
        &[App::new("base", "app", &script)],
        write_recovering_groups,
    );
    let dev = start(d, Some(&repo));
    assert!(
        dev.wait_log("status READY", 30),
        "never READY: {}",
        dev.console("0", "base")
    );
    if lan {
        assert!(dev.wait_log("LAN endpoint for pvr listening", 5));
        assert!(dev.wait_log("without PV_LAN_PVR_TOKEN", 5));
    }
    (repo, dev, format!("http://127.0.0.1:{port}"))
}

/// Add container `name` (a sleeper) to the checkout with pv-app and commit.
fn add_container(d: &Path, repo: &Path, name: &str) {
    device::add_app_and_commit(d, repo, name, &sleeper(name));
}

/// Run a workspace binary in `cwd`; panics on failure; stdout.
fn run(d: &Path, bin: &str, cwd: &Path, args: &[&str], env: &[(&str, &Path)]) -> String {
    let mut c = Command::new(workspace_bin(bin));
    c.args(args)
        .current_dir(cwd)
        .env("PVR_CONFIG_DIR", d.join("pvr-config"));
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{bin} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_remote_pvtx_transaction_becomes_the_running_revision() {
    if !can_run() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let (repo, dev, _) = pvtx_device(d.path(), false);
    add_container(d.path(), &repo, "extra");
    let pkg = d.path().join("extra.tgz");
    run(
        d.path(),
        "pvr",
        &repo,
        &["export", "--parts", "extra", pkg.to_str().unwrap()],
        &[],
    );
    let tx = d.path().join("pvtxdir");
    let sock = dev.socket();
    let pvtx = |args: &[&str]| {
        let mut all = vec!["--socket", sock.to_str().unwrap()];
        all.extend_from_slice(args);
        run(d.path(), "pvtx", d.path(), &all, &[("PVTXDIR", &tx)])
    };
    pvtx(&["begin"]);
    pvtx(&["add", pkg.to_str().unwrap()]);
    let shown: Value = serde_json::from_str(&pvtx(&["show"])).unwrap();
    assert!(shown.get("extra/run.json").is_some() && shown.get("base/run.json").is_some());
    let rev = pvtx(&["commit"]).trim().to_string();
    assert!(rev.starts_with("locals/pvtx-"), "{rev}");
    let (s, b) = dev.run_local(&rev);
    assert_eq!(s, 200, "{b}");
    assert!(
        dev.wait_progress(&rev, "UPDATED", 40),
        "{}",
        dev.progress(&rev)
    );
    assert!(wait(10, || dev.console(&rev, "extra").contains("extra-up")));
    assert_eq!(dev.devmeta("pantavisor.revision"), rev);

    // and back out: remove the container in a second transaction
    pvtx(&["begin"]);
    pvtx(&["remove", "extra"]);
    let rev2 = pvtx(&["commit"]).trim().to_string();
    let (s, b) = dev.run_local(&rev2);
    assert_eq!(s, 200, "{b}");
    assert!(
        dev.wait_progress(&rev2, "UPDATED", 40),
        "{}",
        dev.progress(&rev2)
    );
    assert!(wait(10, || !dev
        .container_names()
        .contains(&"extra".to_string())));
    assert_eq!(dev.devmeta("pantavisor.revision"), rev2);
    dev.stop();
}

/// `curl -X <method> <url> [--data-binary @file]`: status and body.
fn curl(method: &str, url: &str, data: Option<&Path>) -> (u16, String) {
    let mut c = Command::new("curl");
    c.args(["-s", "-X", method, url, "-w", "\n%{http_code}"]);
    if let Some(f) = data {
        c.args(["--data-binary", &format!("@{}", f.display())]);
    }
    let out = String::from_utf8(c.output().unwrap().stdout).unwrap();
    let (body, code) = out.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_string())
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

/// `commit`, `run?rev=`, then `status?rev=` until the update is final.
fn commit_run_and_wait(api: &str, dev: &Device) -> String {
    let (s, b) = curl("POST", &format!("{api}/commit"), None);
    assert_eq!(s, 200, "{b}");
    let rev = json(&b)["revision"].as_str().unwrap().to_string();
    let (s, b) = curl("POST", &format!("{api}/run?rev={rev}"), None);
    assert_eq!(s, 200, "{b}");
    assert!(json(&b)["status"].is_string(), "{b}");
    let mut last = Value::Null;
    let done = wait(40, || {
        let (s, b) = curl("GET", &format!("{api}/status?rev={rev}"), None);
        last = json(&b);
        s == 200
            && matches!(
                last["progress"]["status"].as_str(),
                Some("UPDATED" | "DONE")
            )
    });
    assert!(done, "{last}");
    assert_eq!(last["rev"], rev.as_str());
    assert_eq!(dev.devmeta("pantavisor.revision"), rev);
    let (s, b) = curl("GET", &format!("{api}/status"), None);
    assert_eq!(
        (s, json(&b)["rev"].clone()),
        (200, Value::from(rev.as_str()))
    );
    rev
}

#[test]
fn the_rest_api_flows_of_the_chapter_update_the_device() {
    if !can_run() || !pv_testkit::require_tool("curl") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let (repo, dev, url) = pvtx_device(d.path(), true);
    let api = format!("{url}/cgi-bin/pvtx");

    // flow 1: replace the whole state with an export (here: the device's
    // own revision plus a container, exported whole)
    add_container(d.path(), &repo, "whole");
    let full = d.path().join("full.tar.gz");
    run(
        d.path(),
        "pvr",
        &repo,
        &["export", full.to_str().unwrap()],
        &[],
    );
    let (s, b) = curl("POST", &format!("{api}/begin?empty=true"), None);
    assert_eq!(
        (s, b.as_str()),
        (200, r##"{"#spec":"pantavisor-service-system@1"}"##)
    );
    let (s, b) = curl("PUT", &format!("{api}/add"), Some(&full));
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        json(&b),
        json(&std::fs::read_to_string(repo.join(".pvr/json")).unwrap())
    );
    let rev1 = commit_run_and_wait(&api, &dev);
    assert!(wait(10, || dev
        .console(&rev1, "whole")
        .contains("whole-up")));

    // flow 2: modify the running revision: add one container, remove another
    add_container(d.path(), &repo, "added");
    let pkg = d.path().join("container.tar.gz");
    run(
        d.path(),
        "pvr",
        &repo,
        &["export", "--parts", "added", pkg.to_str().unwrap()],
        &[],
    );
    let (s, b) = curl("POST", &format!("{api}/begin"), None);
    assert_eq!(s, 200, "{b}");
    assert!(
        json(&b).get("whole/run.json").is_some(),
        "the running revision"
    );
    let (s, b) = curl("PUT", &format!("{api}/add"), Some(&pkg));
    assert_eq!(s, 200, "{b}");
    assert!(json(&b).get("added/run.json").is_some());
    let (s, b) = curl("PUT", &format!("{api}/remove?part=whole"), None);
    assert_eq!(s, 200, "{b}");
    assert!(json(&b).get("whole/run.json").is_none());
    let (s, b) = curl("GET", &format!("{api}/show"), None);
    assert_eq!(s, 200);
    assert!(json(&b).get("added/run.json").is_some() && json(&b).get("base/run.json").is_some());
    let rev2 = commit_run_and_wait(&api, &dev);
    assert!(wait(10, || dev
        .console(&rev2, "added")
        .contains("added-up")));
    assert!(wait(10, || {
        let c = dev.container_names();
        c.contains(&"added".to_string()) && !c.contains(&"whole".to_string())
    }));

    // the rest of the chapter on the real device
    let (s, b) = curl("GET", &format!("{api}/get-config"), None);
    assert_eq!(s, 200);
    assert_eq!(json(&b)["device"]["pantavisor.revision"], rev2.as_str());
    let save = Command::new("curl")
        .args([
            "-s",
            "-X",
            "POST",
            &format!("{api}/usermeta/save?key=newkey"),
            "-H",
            "Content-Type: text/plain",
            "--data-raw",
            "value of the usermeta",
        ])
        .output()
        .unwrap();
    assert_eq!(
        json(&String::from_utf8_lossy(&save.stdout))["newkey"],
        "value of the usermeta"
    );
    let (s, b) = curl("PUT", &format!("{api}/usermeta/delete?key=newkey"), None);
    assert_eq!(s, 200, "{b}");
    assert!(json(&b).get("newkey").is_none());
    dev.stop();
}
