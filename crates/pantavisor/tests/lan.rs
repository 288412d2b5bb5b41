//! The LAN endpoint for pvr and the control socket's roles, against a real
//! running device (needs root):
//!
//! * the requests the original pvr sends for clone and post, over TCP;
//! * our `pvr`: clone the running device, `pvr app add`, commit, post,
//!   LOCAL_RUN, and the new container runs;
//! * `pvcontrol` run inside real containers: a `mgmt` one gets the full
//!   API, another one only what the spec allows.

mod device;

use std::path::{Path, PathBuf};
use std::process::Command;

use device::bins::workspace_bin;
use device::{can_run, checkout, start, wait, write_recovering_groups, App, Device};
use serde_json::Value;
use sha2::{Digest, Sha256};

const TOKEN: &str = "lan-test-token-0123456789";

/// An HTTP answer.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP request to `url` (`http://host:port/path?query`), redirects
/// not followed.
fn http(method: &str, url: &str, token: Option<&str>, body: &[u8]) -> Answer {
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut req = client
        .request(method.parse().unwrap(), url)
        .body(body.to_vec());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    Answer {
        status,
        headers,
        body: resp.bytes().unwrap().to_vec(),
    }
}

fn sha_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// A device with the LAN endpoint on a free local port; returns it and its base URL.
fn lan_device(d: &Path, apps: &[App<'_>]) -> (PathBuf, Device, String) {
    let port = pv_testkit::free_port();
    std::fs::write(
        d.join("pantavisor.config"),
        format!(
            "PV_SECUREBOOT_MODE=disabled\nPV_LOG_LEVEL=4\nPV_UPDATER_COMMIT_DELAY=0\n\
             PV_LAN_PVR_LISTEN=127.0.0.1:{port}\nPV_LAN_PVR_TOKEN={TOKEN}\n"
        ),
    )
    .unwrap();
    let repo = checkout(d, apps, write_recovering_groups);
    let dev = start(d, Some(&repo));
    assert!(
        dev.wait_log("status READY", 30),
        "device never READY: {:?}",
        apps.iter()
            .map(|a| dev.console("0", a.name))
            .collect::<Vec<_>>()
    );
    assert!(dev.wait_log("LAN endpoint for pvr listening", 5));
    (repo, dev, format!("http://127.0.0.1:{port}"))
}

fn sleeper(name: &str) -> String {
    format!("echo {name}-up; trap 'exit 0' TERM; while true; do sleep 1; done # marker-lan")
}

#[test]
fn lan_endpoint_speaks_the_original_pvr_protocol() {
    if !can_run() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let script = sleeper("base");
    let (repo, dev, url) = lan_device(d.path(), &[App::new("base", "app", &script)]);

    // no token: 401 naming a login endpoint, as pvr expects
    let a = http("GET", &format!("{url}/cgi-bin/pvr/.pvrremote"), None, b"");
    assert_eq!(a.status, 401);
    assert!(a.header("www-authenticate").unwrap().contains("ph-aeps="));
    let a = http(
        "GET",
        &format!("{url}/cgi-bin/.pvrremote"),
        Some("wrong-token-wrong-token"),
        b"",
    );
    assert_eq!(a.status, 401);
    // pvr's login prompt: the token as password
    let a = http(
        "POST",
        &format!("{url}/cgi-bin/pvr/auth/login"),
        None,
        format!(r#"{{"username":"x","password":"{TOKEN}"}}"#).as_bytes(),
    );
    assert_eq!((a.status, a.json()["token"].as_str()), (200, Some(TOKEN)));

    // clone: .pvrremote (the golden path's /cgi-bin spelling), state, objects
    let remote = http(
        "GET",
        &format!("{url}/cgi-bin/.pvrremote"),
        Some(TOKEN),
        b"",
    )
    .json();
    assert_eq!(remote["pvr-spec"], "pvr-pantahub-1");
    let get_url = remote["json-get-url"].as_str().unwrap();
    let objects = remote["objects-endpoint"].as_str().unwrap().to_string();
    let a = http("GET", get_url, Some(TOKEN), b"");
    assert_eq!(a.status, 200);
    let state = a.json();
    let local: Value =
        serde_json::from_slice(&std::fs::read(repo.join(".pvr/json")).unwrap()).unwrap();
    assert_eq!(state, local, "the device serves the running revision");
    let (key, sha) = state
        .as_object()
        .unwrap()
        .iter()
        .find(|(k, _)| k.ends_with("root.squashfs"))
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .unwrap();
    let info = http("GET", &format!("{objects}/{sha}"), Some(TOKEN), b"");
    assert_eq!(info.status, 200);
    let info = info.json();
    let size: u64 = info["size"].as_str().unwrap().parse().unwrap();
    let signed = info["signed-geturl"].as_str().unwrap();
    let blob = http("GET", signed, None, b"");
    assert_eq!((blob.status, blob.body.len() as u64), (200, size));
    assert_eq!(sha_hex(&blob.body), sha, "{key}");
    let forged = signed.replace("signature=", "signature=00");
    assert_eq!(http("GET", &forged, None, b"").status, 403);
    let missing = "0".repeat(64);
    assert_eq!(
        http("GET", &format!("{objects}/{missing}"), Some(TOKEN), b"").status,
        404
    );

    // post: a new container, objects announced and uploaded, then the envelope
    device::add_app_and_commit(d.path(), &repo, "extra", &sleeper("extra"));
    let new_state: Value =
        serde_json::from_slice(&std::fs::read(repo.join(".pvr/json")).unwrap()).unwrap();
    let pool = pvr_core::Repo::open(&repo, &d.path().join("pvr-config"))
        .unwrap()
        .objects;
    let baseline: std::collections::BTreeSet<String> = state
        .as_object()
        .unwrap()
        .values()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    // an object the device has: 409
    let ann = serde_json::json!({"sha256sum": sha, "objectname": key, "size": size.to_string(), "mime-type": "application/octet-stream"});
    let a = http(
        "POST",
        &format!("{objects}/"),
        Some(TOKEN),
        ann.to_string().as_bytes(),
    );
    assert_eq!(
        (a.status, a.header("pantahub-object-type")),
        (409, Some("object"))
    );
    // pvr post -f re-uploads to the 409's signed PUT URL
    let put = a.json()["signed-puturl"].as_str().unwrap().to_string();
    let again = http("PUT", &put, None, &blob.body);
    assert_eq!(
        again.status,
        200,
        "{}",
        String::from_utf8_lossy(&again.body)
    );
    // pvr stepinfo: the step object at step-get-url
    let step = http(
        "GET",
        remote["step-get-url"].as_str().unwrap(),
        Some(TOKEN),
        b"",
    );
    assert_eq!(step.status, 200, "{}", String::from_utf8_lossy(&step.body));
    let step = step.json();
    assert_eq!(
        (step["rev"].clone(), &step["state"]),
        (serde_json::json!(0), &state)
    );
    assert_eq!(step["progress"]["status"], "DONE", "{step}");
    let mut uploaded = 0;
    for (k, v) in new_state.as_object().unwrap() {
        let Some(id) = v
            .as_str()
            .filter(|s| s.len() == 64 && !baseline.contains(*s))
        else {
            continue;
        };
        let data = std::fs::read(pool.path(&id.parse().unwrap())).unwrap();
        let ann = serde_json::json!({"sha256sum": id, "objectname": k, "size": data.len().to_string(), "mime-type": "application/octet-stream",
            "id": "", "storage-id": "", "owner": "", "signed-puturl": "", "signed-geturl": "", "now": "", "expire-time": ""});
        let a = http(
            "POST",
            &format!("{objects}/"),
            Some(TOKEN),
            ann.to_string().as_bytes(),
        );
        if a.status == 409 {
            continue; // same object under two keys
        }
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
        let put = a.json()["signed-puturl"].as_str().unwrap().to_string();
        // wrong bytes are refused and leave nothing behind
        let bad = http("PUT", &put, None, b"not the object");
        assert_eq!(bad.status, 422, "{}", String::from_utf8_lossy(&bad.body));
        assert!(!dev.storage.join("objects").join(id).exists());
        let ok = http("PUT", &put, None, &data);
        assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
        assert!(dev.storage.join("objects").join(id).exists());
        uploaded += 1;
    }
    assert!(uploaded >= 1, "the new container's objects were uploaded");
    let envelope = serde_json::json!({"commit-msg": "add extra", "rev": -1, "state": new_state});
    let a = http(
        "POST",
        remote["post-url"].as_str().unwrap(),
        Some(TOKEN),
        envelope.to_string().as_bytes(),
    );
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let posted = a.json();
    assert_eq!(posted["rev"], -1);
    assert!(posted.get("run-error").is_none(), "{posted}");
    let rev = posted["revlocal"].as_str().unwrap().to_string();
    assert!(rev.starts_with("locals/pvr-"), "{rev}");
    assert_eq!(posted["state-sha"].as_str().unwrap().len(), 64);
    assert!(
        dev.wait_progress(&rev, "UPDATED", 30),
        "{}",
        dev.progress(&rev)
    );
    assert!(wait(10, || dev.console(&rev, "extra").contains("extra-up")));
    assert_eq!(
        std::fs::read_to_string(dev.storage.join("trails").join(&rev).join(".pv/commitmsg"))
            .unwrap(),
        "add extra"
    );
    // the new revision is what the endpoint serves now
    let now = http("GET", get_url, Some(TOKEN), b"").json();
    assert_eq!(now, new_state);
    dev.stop();
}

/// Copy a dynamically linked binary and the libraries it needs into `root`.
fn install_binary(root: &Path, bin: &Path, as_name: &str) {
    let dest = root.join("usr/bin").join(as_name);
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::copy(bin, &dest).unwrap();
    let out = Command::new("ldd").arg(bin).output().unwrap();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let path = line
            .split_whitespace()
            .find(|w| w.starts_with('/'))
            .map(PathBuf::from);
        if let Some(lib) = path {
            let to = root.join(lib.strip_prefix("/").unwrap());
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&lib, &to).unwrap();
        }
    }
}

#[test]
fn roles_of_containers_on_the_control_socket() {
    if !can_run() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let pvcontrol = workspace_bin("pvcontrol");
    install_binary(&d.path().join("rootfs"), &pvcontrol, "pvcontrol");
    let probe = "sleep 1; /usr/bin/pvcontrol ls 2>&1; echo ls-rc=$?; \
        /usr/bin/pvcontrol devmeta ls 2>&1; echo devmeta-rc=$?; \
        /usr/bin/pvcontrol signal ready 2>&1; echo signal-rc=$?; \
        echo probe-done; trap 'exit 0' TERM; while true; do sleep 1; done # marker-lan";
    let mut mgmt = App::new("mgmt", "platform", probe);
    mgmt.args = vec![r#"PV_ROLES=["mgmt"]"#.into()];
    let mut app = App::new("app", "app", probe);
    app.status_goal = Some("READY");
    let (_repo, dev, _url) = lan_device(d.path(), &[mgmt, app]);
    assert!(wait(20, || dev.console("0", "mgmt").contains("probe-done")
        && dev.console("0", "app").contains("probe-done")));
    let m = dev.console("0", "mgmt");
    let a = dev.console("0", "app");
    // mgmt: full API
    assert!(m.contains("ls-rc=0"), "{m}");
    assert!(m.contains("\"name\":\"app\"") || m.contains("app"), "{m}");
    assert!(m.contains("devmeta-rc=0"), "{m}");
    assert!(m.contains("pantavisor.revision"), "{m}");
    // not mgmt: refused, except the signal it is allowed to send
    assert!(!a.contains("ls-rc=0"), "{a}");
    assert!(a.contains("Request not sent from a mgmt platform"), "{a}");
    assert!(!a.contains("devmeta-rc=0"), "{a}");
    assert!(a.contains("signal-rc=0"), "the app may signal ready: {a}");
    // the app's READY goal was reached through that signal
    assert!(dev.wait_log("status READY", 10));
    // the host (this test) has the full API too
    let (s, body) = dev.ctrl("GET", "/containers", b"");
    assert_eq!(s, 200, "{body}");
    dev.stop();
}

/// Run our `pvr` in `cwd` with its own config dir; panics on failure.
fn pvr(d: &Path, cwd: &Path, args: &[&str]) -> String {
    let out = Command::new(workspace_bin("pvr"))
        .args(args)
        .current_dir(cwd)
        .env("PVR_CONFIG_DIR", d.join("host-pvr-config"))
        .env("PVR_AUTH", TOKEN)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "pvr {args:?}: {text}");
    text
}

#[test]
fn pvr_clone_app_add_commit_post_and_run() {
    if !can_run() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let script = sleeper("base");
    let (_repo, dev, url) = lan_device(d.path(), &[App::new("base", "app", &script)]);
    let work = d.path().join("host");
    std::fs::create_dir_all(&work).unwrap();

    // clone the running device (the golden path's /cgi-bin spelling)
    pvr(
        d.path(),
        &work,
        &["clone", &format!("{url}/cgi-bin"), "my-device"],
    );
    let co = work.join("my-device");
    assert!(co.join("base/run.json").exists());

    // add a container from a rootfs directory, commit
    let cfg = d.path().join("web.json");
    let cmd = serde_json::json!({"Cmd": ["/bin/sh", "-c", sleeper("web")], "Env": ["PATH=/bin"]});
    std::fs::write(&cfg, cmd.to_string()).unwrap();
    let rootfs = d.path().join("rootfs");
    pvr(
        d.path(),
        &co,
        &[
            "app",
            "add",
            "web",
            "--type",
            "rootfs",
            "--from",
            rootfs.to_str().unwrap(),
            "--group",
            "app",
            "--config-json",
            cfg.to_str().unwrap(),
            "--format-options=-comp gzip",
        ],
    );
    pvr(d.path(), &co, &["add", "."]);
    pvr(d.path(), &co, &["commit", "-m", "add web"]);

    // post without running, then LOCAL_RUN through the control socket
    let out = pvr(d.path(), &co, &["post", "--no-run", &url]);
    assert!(
        out.contains("Successfully posted Revision locals/pvr-"),
        "{out}"
    );
    let rev = out
        .split_whitespace()
        .find(|w| w.starts_with("locals/pvr-"))
        .unwrap()
        .to_string();
    assert!(
        dev.progress(&rev).contains("\"status\":\"NEW\""),
        "{}",
        dev.progress(&rev)
    );
    assert_eq!(
        std::fs::read_link(dev.storage.join("trails/current")).unwrap(),
        Path::new("0"),
        "not run yet"
    );
    let (s, b) = dev.run_local(&rev);
    assert_eq!(s, 200, "{b}");
    assert!(
        dev.wait_progress(&rev, "UPDATED", 30),
        "{}",
        dev.progress(&rev)
    );
    assert!(
        wait(10, || dev.console(&rev, "web").contains("web-up")),
        "the new container runs"
    );
    // a non-reboot update: the untouched container was never restarted
    assert_eq!(dev.log_count("container base: started"), 1);

    // a second change posted and run right away; only what changed is uploaded
    std::fs::create_dir_all(co.join("_config/web/etc")).unwrap();
    std::fs::write(co.join("_config/web/etc/motd"), "hello over the LAN\n").unwrap();
    pvr(d.path(), &co, &["add", "."]);
    pvr(d.path(), &co, &["commit", "-m", "motd"]);
    let out = pvr(d.path(), &co, &["post"]);
    let rev2 = out
        .split_whitespace()
        .find(|w| w.starts_with("locals/pvr-"))
        .unwrap()
        .to_string();
    assert_ne!(rev2, rev);
    assert!(
        dev.wait_progress(&rev2, "UPDATED", 30),
        "{}",
        dev.progress(&rev2)
    );
    // get brings the device's state back into a fresh clone, byte for byte
    pvr(d.path(), &work, &["clone", &url, "again"]);
    assert_eq!(
        std::fs::read(work.join("again/.pvr/json")).unwrap(),
        std::fs::read(co.join(".pvr/json")).unwrap()
    );
    dev.stop();
}
