//! Devices on a real hub (issue 12, device side): `pantahub serve` on a
//! fresh data dir and `pantavisor` appengine devices with real containers,
//! talking through a byte-counting TCP relay (which can also cut them off).
//!
//! Short form (every run of `cargo test -p pantavisor --test hub`, so CI):
//! a device with a join token registers, syncs rev 0, publishes its
//! device-meta, receives user-meta, pushes its containers' logs and takes
//! a `pvr post`ed app update to UPDATED (every status in order, the
//! untouched container not restarted, only the changed objects
//! downloaded); an unclaimed device shows its challenge, is claimed, and
//! a broken revision posted to it rolls back and is reported ERROR.
//! Long form (`bash scripts/hub-e2e-long.sh`, the ignored tests): a
//! download cut by the hub going away resumes at its byte; the runtime
//! killed while DOWNLOADING resumes too, with its retry counted (killed
//! twice with `PV_REVISION_RETRIES=3`: WONTGO); a staged rollout over 3
//! devices pauses itself when its second wave fails.

mod device;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use device::bins::workspace_bin;
use device::{can_run, checkout, start_with_cmdline, wait, App, Device};
use serde_json::{json, Value};

const USER: &str = "user1";
const PASSWORD: &str = "secret-pass1";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `pantahub serve`.
struct Hub {
    child: Child,
    data: PathBuf,
    url: String,
    token: String,
}

impl Hub {
    fn start(dir: &Path) -> Hub {
        let data = dir.join("hub");
        let bin = workspace_bin("pantahub");
        let ok = Command::new(&bin)
            .args(["user", "add", "--data"])
            .arg(&data)
            .args([
                "--nick",
                USER,
                "--email",
                "u1@example.com",
                "--password",
                PASSWORD,
            ])
            .status()
            .unwrap()
            .success();
        assert!(ok, "pantahub user add");
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let child = Command::new(&bin)
            .args(["serve", "--data"])
            .arg(&data)
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--public-url",
                &url,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut hub = Hub {
            child,
            data,
            url,
            token: String::new(),
        };
        assert!(wait(30, || hub.login().is_some()), "hub never answered");
        hub.token = hub.login().unwrap();
        hub
    }

    fn login(&self) -> Option<String> {
        let r = client()
            .post(format!("{}/auth/login", self.url))
            .header("Content-Type", "application/json")
            .body(json!({"username": USER, "password": PASSWORD}).to_string())
            .send()
            .ok()?;
        let v: Value = serde_json::from_str(&r.text().ok()?).ok()?;
        v["token"].as_str().map(String::from)
    }

    fn join_token(&self) -> String {
        let out = Command::new(workspace_bin("pantahub"))
            .args(["token", "--data"])
            .arg(&self.data)
            .args(["--user", USER])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .trim()
            .to_string()
    }

    /// A JSON call as the user.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = client()
            .request(method.parse().unwrap(), format!("{}{path}", self.url))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            r = r
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        let r = r.send().unwrap();
        let s = r.status().as_u16();
        let text = r.text().unwrap();
        (
            s,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn step(&self, id: &str, rev: u32) -> Value {
        self.call("GET", &format!("/trails/{id}/steps/{rev}"), None)
            .1
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .user_agent("hub-e2e")
        .build()
        .unwrap()
}

/// A TCP relay between devices and the hub that counts the bytes of blob
/// downloads (`GET /local-s3/…` connections, server to client) and can
/// drop every connection and refuse new ones.
struct Relay {
    port: u16,
    blob_bytes: Arc<AtomicU64>,
    down: Arc<AtomicBool>,
    /// Go down once this many blob bytes went by (0: never).
    cut_after: Arc<AtomicU64>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    /// (revision, status, when) of every progress report that went by,
    /// in order.
    reports: Arc<Mutex<Vec<(String, String, Instant)>>>,
}

/// The revision of a progress report's request line
/// (`PUT /trails/<id>/steps/<rev>/progress`).
fn progress_rev(chunk: &[u8]) -> Option<String> {
    let line = String::from_utf8_lossy(&chunk[..chunk.len().min(200)]);
    let path = line.strip_prefix("PUT ")?.split(' ').next()?;
    let rest = path.strip_prefix("/trails/")?.strip_suffix("/progress")?;
    Some(rest.rsplit('/').next()?.to_string())
}

/// The values of `"status":"…"` in a chunk.
fn statuses(chunk: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(chunk);
    text.split("\"status\":\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(String::from)
        .collect()
}

impl Relay {
    fn start(target: u16) -> Relay {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let r = Relay {
            port,
            blob_bytes: Arc::default(),
            down: Arc::default(),
            cut_after: Arc::default(),
            conns: Arc::default(),
            reports: Arc::default(),
        };
        let (bytes, down, cut, conns, reports) = (
            r.blob_bytes.clone(),
            r.down.clone(),
            r.cut_after.clone(),
            r.conns.clone(),
            r.reports.clone(),
        );
        std::thread::spawn(move || {
            for c in l.incoming().flatten() {
                if down.load(Ordering::SeqCst) {
                    let _ = c.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(s) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                conns.lock().unwrap().push(c.try_clone().unwrap());
                conns.lock().unwrap().push(s.try_clone().unwrap());
                let is_blob = Arc::new(AtomicBool::new(false));
                let (c2, s2, blob2) = (
                    c.try_clone().unwrap(),
                    s.try_clone().unwrap(),
                    is_blob.clone(),
                );
                // client to server: note whether this is a blob download,
                // and the statuses of progress reports
                let reports = reports.clone();
                std::thread::spawn(move || {
                    let mut report: Option<String> = None;
                    pipe(c2, s2, |chunk, delivered| {
                        if delivered {
                            return;
                        }
                        if chunk.starts_with(b"GET /local-s3/") {
                            blob2.store(true, Ordering::SeqCst);
                        }
                        let methods: [&[u8]; 5] =
                            [b"GET ", b"PUT ", b"POST ", b"PATCH ", b"DELETE "];
                        if methods.iter().any(|m| chunk.starts_with(m)) {
                            report = progress_rev(chunk);
                        }
                        if let Some(rev) = &report {
                            let mut r = reports.lock().unwrap();
                            for st in statuses(chunk) {
                                r.push((rev.clone(), st, Instant::now()));
                            }
                        }
                    })
                });
                let (bytes, down, cut, conns) =
                    (bytes.clone(), down.clone(), cut.clone(), conns.clone());
                std::thread::spawn(move || {
                    // counted once delivered to the device
                    pipe(s, c, |chunk, delivered| {
                        if delivered && is_blob.load(Ordering::SeqCst) {
                            let n = bytes.fetch_add(chunk.len() as u64, Ordering::SeqCst)
                                + chunk.len() as u64;
                            let limit = cut.load(Ordering::SeqCst);
                            if limit > 0 && n >= limit {
                                cut.store(0, Ordering::SeqCst);
                                down.store(true, Ordering::SeqCst);
                                for c in conns.lock().unwrap().drain(..) {
                                    let _ = c.shutdown(Shutdown::Both);
                                }
                            }
                        }
                    })
                });
            }
        });
        r
    }

    /// The statuses reported for `rev`, repeats of one status merged.
    fn reported(&self, rev: &str) -> Vec<String> {
        let mut out: Vec<String> = vec![];
        for (r, st, _) in self.reports.lock().unwrap().iter() {
            if r == rev && out.last() != Some(st) {
                out.push(st.clone());
            }
        }
        out
    }

    /// When the first report of `status` for `rev` went by.
    fn reported_at(&self, rev: &str, status: &str) -> Option<Instant> {
        let r = self.reports.lock().unwrap();
        r.iter()
            .find(|(r, st, _)| r == rev && st == status)
            .map(|(_, _, t)| *t)
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
        if down {
            for c in self.conns.lock().unwrap().drain(..) {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
    }
}

/// Copy `from` to `to`; `seen(chunk, delivered)` is called before each
/// chunk is written (`false`) and once it was (`true`).
fn pipe(mut from: TcpStream, mut to: TcpStream, mut seen: impl FnMut(&[u8], bool)) {
    let mut buf = vec![0u8; 16 << 10];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                seen(&buf[..n], false);
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
                seen(&buf[..n], true);
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn sleeper(name: &str) -> String {
    format!("echo {name}-up; trap 'exit 0' TERM; while true; do sleep 1; done # marker-hub")
}

/// The command of an app that runs [`sleeper`].
fn sleeping(name: &str) -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into(), sleeper(name)]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The kernel command line pointing a device at the relay.
fn hub_cmdline(relay: &Relay, autotok: Option<&str>) -> String {
    let mut s = format!(
        "ph_creds.host=http://127.0.0.1 ph_creds.port={} ph_updater.interval=1 \
         ph_metadata.devmeta.interval=1 ph_metadata.usrmeta.interval=1",
        relay.port
    );
    if let Some(t) = autotok {
        s.push_str(&format!(" ph_factory.autotok={t}"));
    }
    s
}

/// A device running `apps`, on the hub; an update commits `commit_delay`
/// seconds after its containers reached their goals.
fn hub_device(
    d: &Path,
    relay: &Relay,
    autotok: Option<&str>,
    apps: &[App<'_>],
    commit_delay: u32,
) -> Device {
    std::fs::write(
        d.join("pantavisor.config"),
        format!(
            "PV_SECUREBOOT_MODE=disabled\nPV_LOG_LEVEL=4\nPV_UPDATER_COMMIT_DELAY={commit_delay}\n"
        ),
    )
    .unwrap();
    let repo = checkout(d, apps, |r| {
        let dev = json!({"groups": [
            {"name": "platform", "status_goal": "STARTED", "restart_policy": "system", "timeout": 10},
            {"name": "app", "status_goal": "STARTED", "restart_policy": "container", "timeout": 10,
             "auto_recovery": {"policy": "on-failure", "max_retries": 3, "retry_delay": 1, "stable_timeout": 1}},
            {"name": "fragile", "status_goal": "STARTED", "restart_policy": "container", "timeout": 10}
        ]});
        std::fs::write(r.join("device.json"), dev.to_string()).unwrap();
    });
    let dev = start_with_cmdline(d, Some(&repo), &hub_cmdline(relay, autotok));
    assert!(dev.wait_log("status READY", 30), "device never READY");
    dev
}

fn device_id(dev: &Device) -> String {
    let mut id = String::new();
    assert!(
        wait(30, || {
            id = std::fs::read_to_string(dev.run.join("device-id"))
                .unwrap_or_default()
                .trim()
                .to_string();
            !id.is_empty()
        }),
        "no device-id"
    );
    id
}

/// Run our `pvr` against the hub as the user; panics on failure.
fn pvr(d: &Path, hub: &Hub, cwd: &Path, args: &[&str]) -> String {
    let out = Command::new(workspace_bin("pvr"))
        .args(args)
        .current_dir(cwd)
        .env("PVR_CONFIG_DIR", d.join("host-pvr-config"))
        .env("PVR_AUTH", &hub.token)
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

/// Clone the device's trail, add an app `name` running `cmd` (from a
/// rootfs with `extra` added), commit and post; returns when `pvr post`
/// started.
fn post_app(
    d: &Path,
    hub: &Hub,
    id: &str,
    name: &str,
    cmd: &[&str],
    extra: Option<(&str, &[u8])>,
    edit: impl FnOnce(&Path),
) -> Instant {
    let co = commit_app(d, hub, id, name, cmd, extra, edit);
    let t0 = Instant::now();
    pvr(d, hub, &co, &["post", "-m", &format!("add {name}")]);
    t0
}

/// [`post_app`] without the post: the checkout.
fn commit_app(
    d: &Path,
    hub: &Hub,
    id: &str,
    name: &str,
    cmd: &[&str],
    extra: Option<(&str, &[u8])>,
    edit: impl FnOnce(&Path),
) -> PathBuf {
    let work = d.join(format!("host-{name}"));
    std::fs::create_dir_all(&work).unwrap();
    pvr(
        d,
        hub,
        &work,
        &["clone", &format!("{}/trails/{id}", hub.url), "dev"],
    );
    let co = work.join("dev");
    let cfg = d.join(format!("{name}.json"));
    let cmd = json!({"Cmd": cmd, "Env": ["PATH=/bin"]});
    std::fs::write(&cfg, cmd.to_string()).unwrap();
    let rootfs = d.join(format!("rootfs-{name}"));
    let status = Command::new("cp")
        .arg("-a")
        .arg(d.join("rootfs"))
        .arg(&rootfs)
        .status()
        .unwrap();
    assert!(status.success());
    if let Some((file, bytes)) = extra {
        std::fs::write(rootfs.join(file), bytes).unwrap();
    }
    pvr(
        d,
        hub,
        &co,
        &[
            "app",
            "add",
            name,
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
    edit(&co);
    pvr(d, hub, &co, &["add", "."]);
    pvr(d, hub, &co, &["commit", "-m", &format!("add {name}")]);
    co
}

/// Sizes of the objects of `new` that `old` lacks.
fn changed_bytes(hub: &Hub, id: &str, old: u32, new: u32) -> u64 {
    let o = hub.step(id, old)["state"].clone();
    let old_ids: Vec<&Value> = o.as_object().unwrap().values().collect();
    let (_, objs) = hub.call("GET", &format!("/trails/{id}/steps/{new}/objects"), None);
    objs.as_array()
        .unwrap()
        .iter()
        .filter(|ob| !old_ids.contains(&&ob["sha256sum"]))
        .map(|ob| ob["size"].as_str().unwrap().parse::<u64>().unwrap())
        .sum::<u64>()
}

/// Watch a step's progress until it is final; the distinct statuses seen.
fn watch_step(hub: &Hub, id: &str, rev: u32, secs: u64) -> (Vec<String>, Value) {
    let mut seen: Vec<String> = vec![];
    let end = Instant::now() + Duration::from_secs(secs);
    let mut last = Value::Null;
    while Instant::now() < end {
        last = hub.step(id, rev)["progress"].clone();
        let s = last["status"].as_str().unwrap_or("").to_string();
        if seen.last() != Some(&s) {
            seen.push(s.clone());
        }
        if matches!(s.as_str(), "DONE" | "UPDATED" | "ERROR" | "WONTGO") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (seen, last)
}

fn in_order(seen: &[String]) -> bool {
    let order = [
        "NEW",
        "QUEUED",
        "DOWNLOADING",
        "INPROGRESS",
        "TESTING",
        "UPDATED",
        "DONE",
    ];
    let pos: Vec<usize> = seen
        .iter()
        .map(|s| order.iter().position(|o| o == s).unwrap_or(usize::MAX))
        .collect();
    pos.windows(2).all(|w| w[0] <= w[1]) && !pos.contains(&usize::MAX)
}

#[test]
fn join_token_device_syncs_updates_and_exchanges_metadata() {
    if !can_run() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let hub = Hub::start(d.path());
    let relay = Relay::start(hub.url.rsplit(':').next().unwrap().parse().unwrap());
    let script = sleeper("base");
    let tok = hub.join_token();
    let dev = hub_device(
        d.path(),
        &relay,
        Some(&tok),
        &[App::new("base", "app", &script)],
        0,
    );

    // 1. registered by itself, credentials kept, rev 0 synced as DONE
    let id = device_id(&dev);
    let conf = std::fs::read_to_string(dev.storage.join("config/pantahub.config")).unwrap();
    assert!(conf.contains(&format!("PH_CREDS_ID={id}\n")), "{conf}");
    assert!(conf.contains("PH_CREDS_SECRET="), "{conf}");
    assert!(
        wait(30, || hub.step(&id, 0)["progress"]["status"] == "DONE"),
        "{}",
        hub.step(&id, 0)
    );
    let (_, objs) = hub.call("GET", &format!("/trails/{id}/steps/0/objects"), None);
    let n0 = objs.as_array().unwrap().len();
    assert!(n0 >= 2, "{objs}");

    // 7. device-meta reaches the hub within its interval
    let meta =
        |k: &str| hub.call("GET", &format!("/devices/{id}"), None).1["device-meta"][k].clone();
    assert!(
        wait(10, || meta("pantahub.state") == "idle"),
        "{}",
        meta("pantahub.state")
    );
    assert_eq!(meta("pantavisor.revision"), "0");
    // ... and user-meta set on the hub reaches the device and its containers
    let (s, _) = hub.call(
        "PUT",
        &format!("/devices/{id}/user-meta"),
        Some(json!({"greeting": "hello-from-hub", "base.note": "for-base"})),
    );
    assert_eq!(s, 200);
    assert!(
        wait(10, || std::fs::read_to_string(
            dev.run.join("user-meta/greeting")
        )
        .is_ok_and(|v| v == "hello-from-hub")),
        "user-meta not applied"
    );
    assert!(
        wait(10, || std::fs::read_to_string(
            dev.run.join("user-meta.base/note")
        )
        .is_ok_and(|v| v == "for-base")),
        "the container's key does not reach its view"
    );

    // 3. an app posted through the hub: polled, downloaded, run, UPDATED
    let before = relay.blob_bytes.load(Ordering::SeqCst);
    // (with 1 MiB of its own in its rootfs: the bytes of the changed
    // objects dwarf the HTTP headers)
    let t0 = post_app(
        d.path(),
        &hub,
        &id,
        "web",
        &strs(&sleeping("web")),
        Some(("web.bin", &noise(1 << 20))),
        |_| {},
    );
    let (seen, last) = watch_step(&hub, &id, 1, 60);
    let elapsed = t0.elapsed();
    assert_eq!(last["status"], "UPDATED", "{seen:?} {last}");
    assert!(in_order(&seen), "{seen:?}");
    // every status went to the hub, in order
    assert_eq!(
        relay.reported("1"),
        ["QUEUED", "DOWNLOADING", "INPROGRESS", "TESTING", "UPDATED"],
        "{seen:?}"
    );
    assert_eq!(last["retries"], 1, "{last}");
    assert!(wait(10, || dev.console("1", "web").contains("web-up")));
    // the container's output reaches the hub's logs (log push)
    let logs = |plat: &str| {
        hub.call(
            "GET",
            &format!("/logs/?dev={id}&plat={plat}&page=500"),
            None,
        )
        .1
    };
    assert!(
        wait(30, || logs("web")["entries"].as_array().is_some_and(|a| a
            .iter()
            .any(|e| e["msg"] == "web-up" && e["rev"] == "1"))),
        "{}",
        logs("web")
    );
    assert_eq!(
        dev.log_count("container base: started"),
        1,
        "base restarted"
    );
    // only the changed objects came down (plus HTTP headers)
    let got = relay.blob_bytes.load(Ordering::SeqCst) - before;
    let changed = changed_bytes(&hub, &id, 0, 1);
    assert!(changed > 0);
    assert!(
        got >= changed && got < changed + 4 * 1024,
        "{got} vs {changed}"
    );
    // the device's part: from its first report (it polled the step) on
    let queued = relay.reported_at("1", "QUEUED").unwrap();
    let updated = relay.reported_at("1", "UPDATED").unwrap();
    eprintln!(
        "hub-e2e: post to UPDATED {:.2}s; QUEUED to UPDATED {:.2}s; \
         downloaded {got} B for {changed} B changed ({:.3}x)",
        elapsed.as_secs_f64(),
        (updated - queued).as_secs_f64(),
        got as f64 / changed as f64
    );
    assert!(wait(10, || meta("pantavisor.revision") == "1"));
    dev.stop();
}

#[test]
fn claim_by_challenge_and_broken_revision_rolls_back() {
    if !can_run() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let hub = Hub::start(d.path());
    let relay = Relay::start(hub.url.rsplit(':').next().unwrap().parse().unwrap());
    let script = sleeper("base");
    // (a commit delay, so that the broken container fails in TESTING)
    let dev = hub_device(
        d.path(),
        &relay,
        None,
        &[App::new("base", "app", &script)],
        5,
    );

    // 2. unclaimed: the challenge is shown; the user claims with it (`pvr claim`)
    let id = device_id(&dev);
    let mut challenge = String::new();
    assert!(wait(30, || {
        challenge = std::fs::read_to_string(dev.run.join("challenge")).unwrap_or_default();
        !challenge.trim().is_empty()
    }));
    pvr(
        d.path(),
        &hub,
        d.path(),
        &[
            "claim",
            "-c",
            challenge.trim(),
            &format!("{}/devices/{id}", hub.url),
        ],
    );
    assert!(!hub.call("GET", &format!("/devices/{id}"), None).1["owner"]
        .as_str()
        .unwrap_or_default()
        .is_empty());
    assert!(wait(30, || hub.step(&id, 0)["progress"]["status"] == "DONE"));
    assert!(wait(10, || std::fs::read_to_string(
        dev.run.join("challenge")
    )
    .is_ok_and(|c| c.is_empty())));

    // 4. a revision whose new container exits at once (in a group without
    // auto-recovery): rolled back, ERROR on the hub with the message and
    // the device's error lines
    post_app(
        d.path(),
        &hub,
        &id,
        "broken",
        &["/bin/sh", "-c", "echo broken-up; exit 3"],
        None,
        |co| {
            device::edit_run_json(co, "broken", |m| {
                m.insert("group".into(), json!("fragile"));
            })
        },
    );
    let mut dev = dev;
    let code = dev.wait_exit(90);
    assert!(code.is_some(), "the failed update reboots");
    let dev = start_with_cmdline(d.path(), None, &hub_cmdline(&relay, None));
    let (seen, last) = watch_step(&hub, &id, 1, 60);
    assert_eq!(last["status"], "ERROR", "{seen:?} {last}");
    assert!(
        last["status-msg"].as_str().unwrap().contains("container"),
        "{last}"
    );
    assert!(
        last["logs"].as_str().is_some_and(|l| l.contains("broken")),
        "the device's error lines: {last}"
    );
    assert_eq!(
        relay.reported("1"),
        ["QUEUED", "DOWNLOADING", "INPROGRESS", "TESTING", "ERROR"]
    );
    // back on revision 0, and the hub sees it there
    assert!(dev.wait_log("revision 0: status READY", 30));
    let meta =
        |k: &str| hub.call("GET", &format!("/devices/{id}"), None).1["device-meta"][k].clone();
    assert!(wait(15, || meta("pantavisor.revision") == "0"));
    dev.stop();
}

#[test]
#[ignore = "long form: bash scripts/hub-e2e-long.sh"]
fn cut_download_resumes_at_its_byte() {
    if !can_run() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let hub = Hub::start(d.path());
    let relay = Relay::start(hub.url.rsplit(':').next().unwrap().parse().unwrap());
    let script = sleeper("base");
    let tok = hub.join_token();
    let dev = hub_device(
        d.path(),
        &relay,
        Some(&tok),
        &[App::new("base", "app", &script)],
        0,
    );
    let id = device_id(&dev);
    assert!(wait(30, || hub.step(&id, 0)["progress"]["status"] == "DONE"));

    // 5. an app with 6 MiB of incompressible data; the hub goes away
    // halfway through, comes back, and the download resumes
    let big = noise(6 << 20);
    let before = relay.blob_bytes.load(Ordering::SeqCst);
    relay.cut_after.store(before + (3 << 20), Ordering::SeqCst);
    post_app(
        d.path(),
        &hub,
        &id,
        "big",
        &strs(&sleeping("big")),
        Some(("blob.bin", &big)),
        |_| {},
    );
    assert!(wait(60, || relay.down.load(Ordering::SeqCst)), "never cut");
    std::thread::sleep(Duration::from_secs(3));
    relay.set_down(false);
    let (seen, last) = watch_step(&hub, &id, 1, 120);
    assert_eq!(last["status"], "UPDATED", "{seen:?} {last}");
    let got = relay.blob_bytes.load(Ordering::SeqCst) - before;
    let changed = changed_bytes(&hub, &id, 0, 1);
    assert!(
        got < changed + 16 * 1024,
        "resumed: {got} B served for {changed} B"
    );
    assert!(dev.log.lock().unwrap().contains("resuming at byte"));
    eprintln!("hub-e2e: cut download: {got} B served for {changed} B changed");
    dev.stop();
}

/// `len` bytes that do not compress.
fn noise(len: usize) -> Vec<u8> {
    let mut big = vec![0u8; len];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for b in big.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    big
}

#[test]
#[ignore = "long form: bash scripts/hub-e2e-long.sh"]
fn runtime_killed_while_downloading_resumes_with_its_retry_counted() {
    if !can_run() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let hub = Hub::start(d.path());
    let relay = Relay::start(hub.url.rsplit(':').next().unwrap().parse().unwrap());
    let script = sleeper("base");
    let tok = hub.join_token();
    let dev = hub_device(
        d.path(),
        &relay,
        Some(&tok),
        &[App::new("base", "app", &script)],
        0,
    );
    let id = device_id(&dev);
    assert!(wait(30, || hub.step(&id, 0)["progress"]["status"] == "DONE"));

    // 5b. the hub goes away halfway through the download, and the runtime
    // is killed while DOWNLOADING; a new one takes the download up again
    // from its byte, and counts the attempt
    let before = relay.blob_bytes.load(Ordering::SeqCst);
    relay.cut_after.store(before + (3 << 20), Ordering::SeqCst);
    post_app(
        d.path(),
        &hub,
        &id,
        "big",
        &strs(&sleeping("big")),
        Some(("blob.bin", &noise(6 << 20))),
        |_| {},
    );
    assert!(wait(60, || relay.down.load(Ordering::SeqCst)), "never cut");
    let parts = dev.storage.join("cache/hub-downloads");
    let partial = || {
        std::fs::read_dir(&parts)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
                    .map(|e| e.metadata().unwrap().len())
                    .sum::<u64>()
            })
            .unwrap_or(0)
    };
    assert!(partial() > 0, "no partial download kept");
    dev.stop_with(nix::sys::signal::Signal::SIGKILL);
    relay.set_down(false);
    let dev = start_with_cmdline(d.path(), None, &hub_cmdline(&relay, Some(&tok)));
    let (seen, last) = watch_step(&hub, &id, 1, 120);
    assert_eq!(last["status"], "UPDATED", "{seen:?} {last}");
    assert_eq!(last["retries"], 2, "{last}");
    let got = relay.blob_bytes.load(Ordering::SeqCst) - before;
    let changed = changed_bytes(&hub, &id, 0, 1);
    assert!(
        got < changed + 16 * 1024,
        "resumed: {got} B served for {changed} B"
    );
    assert!(dev.log.lock().unwrap().contains("resuming at byte"));
    assert!(wait(10, || dev.console("1", "big").contains("big-up")));
    eprintln!("hub-e2e: killed while downloading: {got} B served for {changed} B changed");
    dev.stop();
}

/// Upload the objects of a checkout's committed state as the user; the
/// state.
fn upload_state(d: &Path, hub: &Hub, co: &Path) -> Value {
    let r = pvr_core::Repo::open(co, &d.join("host-pvr-config")).unwrap();
    for oid in r.pristine().unwrap().object_ids() {
        let path = r.objects.path(&oid);
        let data = std::fs::read(&path).unwrap();
        let (s, o) = hub.call(
            "POST",
            "/objects/",
            Some(
                json!({"objectname": oid.to_hex(), "sha256sum": oid.to_hex(),
                        "size": data.len().to_string()}),
            ),
        );
        if s == 409 {
            continue;
        }
        assert_eq!(s, 200, "{o}");
        let url = o["signed-puturl"].as_str().unwrap();
        let path = &url[url.find("/local-s3/").unwrap()..];
        let r = client()
            .put(format!("{}{path}", hub.url))
            .body(data)
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }
    serde_json::from_slice(&std::fs::read(co.join(".pvr/json")).unwrap()).unwrap()
}

#[test]
#[ignore = "long form: bash scripts/hub-e2e-long.sh"]
fn staged_rollout_pauses_when_its_second_wave_fails() {
    if !can_run() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let hub = Hub::start(d.path());
    let relay = Relay::start(hub.url.rsplit(':').next().unwrap().parse().unwrap());
    let script = sleeper("base");
    let tok = hub.join_token();
    let mut devs: Vec<(Device, String)> = (1..=3)
        .map(|i| {
            let dir = d.path().join(format!("dev{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            let dev = hub_device(
                &dir,
                &relay,
                Some(&tok),
                &[App::new("base", "app", &script)],
                2,
            );
            let id = device_id(&dev);
            (dev, id)
        })
        .collect();
    for (_, id) in &devs {
        assert!(wait(30, || hub.step(id, 0)["progress"]["status"] == "DONE"));
    }
    // the new app fails where its user-meta says so: on the second device
    let (s, _) = hub.call(
        "PUT",
        &format!("/devices/{}/user-meta", devs[1].1),
        Some(json!({"roll.fail": "1"})),
    );
    assert_eq!(s, 200);
    assert!(wait(15, || devs[1]
        .0
        .run
        .join("user-meta/roll.fail")
        .exists()));
    // (built beside the first device, from its rootfs)
    let d1 = d.path().join("dev1");
    let co = commit_app(
        &d1,
        &hub,
        &devs[0].1,
        "roll",
        &[
            "/bin/sh",
            "-c",
            "if test -e /pantavisor/user-meta/fail; then echo roll-fails; exit 3; fi; \
             echo roll-up; trap 'exit 0' TERM; while true; do sleep 1; done # marker-hub",
        ],
        None,
        |co| {
            device::edit_run_json(co, "roll", |m| {
                m.insert("group".into(), json!("fragile"));
            })
        },
    );
    let state = upload_state(&d1, &hub, &co);
    let ids: Vec<String> = devs.iter().map(|(_, id)| id.clone()).collect();
    let (s, r) = hub.call(
        "POST",
        "/rollouts",
        Some(json!({"state": state, "commit-msg": "roll", "devices": ids,
                    "waves": [1, 1, 1], "failure-threshold": 0.0})),
    );
    assert_eq!(s, 201, "{r}");
    let rid = r["id"].as_str().unwrap().to_string();

    // 6. wave 1 updates; wave 2 fails (its device rolls back and reboots)
    assert!(wait(60, || hub.step(&ids[0], 1)["progress"]["status"]
        == "UPDATED"));
    let (mut dev2, _) = devs.remove(1);
    assert!(dev2.wait_exit(90).is_some(), "the failed update reboots");
    let dev2 = start_with_cmdline(
        &d.path().join("dev2"),
        None,
        &hub_cmdline(&relay, Some(&tok)),
    );
    let rollout = || hub.call("GET", &format!("/rollouts/{rid}"), None).1;
    assert!(
        wait(60, || rollout()["status"] == "paused"),
        "{}",
        rollout()
    );
    let r = rollout();
    assert!(r["reason"].as_str().unwrap().contains("wave 2"), "{r}");
    assert_eq!(hub.step(&ids[1], 1)["progress"]["status"], "ERROR");
    // the third device is never updated: no step, nothing installed
    assert_eq!(r["waves"][2]["status"], "pending", "{r}");
    std::thread::sleep(Duration::from_secs(3));
    let (s, _) = hub.call("GET", &format!("/trails/{}/steps/1", ids[2]), None);
    assert_eq!(s, 404);
    // (devs[1] is the third device now)
    assert!(!devs[1].0.log.lock().unwrap().contains("remote revision"));
    assert!(dev2.wait_log("revision 0: status READY", 30));
    dev2.stop();
    for (dev, _) in devs {
        dev.stop();
    }
}

#[test]
#[ignore = "long form: bash scripts/hub-e2e-long.sh"]
fn runtime_killed_twice_while_downloading_ends_wontgo() {
    if !can_run() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let hub = Hub::start(d.path());
    let relay = Relay::start(hub.url.rsplit(':').next().unwrap().parse().unwrap());
    let script = sleeper("base");
    let tok = hub.join_token();
    let dev = hub_device(
        d.path(),
        &relay,
        Some(&tok),
        &[App::new("base", "app", &script)],
        0,
    );
    // read by the runtimes started after the kills
    let conf = d.path().join("pantavisor.config");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, format!("{text}PV_REVISION_RETRIES=3\n")).unwrap();
    let id = device_id(&dev);
    assert!(wait(30, || hub.step(&id, 0)["progress"]["status"] == "DONE"));

    // spec runtime.md §14 test 28: killed twice while DOWNLOADING (each
    // time the hub went away first, so that the download is under way),
    // the third start ends the update WONTGO
    let arm = || {
        relay.set_down(false);
        let at = relay.blob_bytes.load(Ordering::SeqCst) + (2 << 20);
        relay.cut_after.store(at, Ordering::SeqCst);
    };
    arm();
    post_app(
        d.path(),
        &hub,
        &id,
        "big",
        &strs(&sleeping("big")),
        Some(("blob.bin", &noise(6 << 20))),
        |_| {},
    );
    let mut dev = dev;
    for attempt in 1..=2 {
        assert!(
            wait(60, || relay.down.load(Ordering::SeqCst)),
            "attempt {attempt} never cut"
        );
        dev.stop_with(nix::sys::signal::Signal::SIGKILL);
        let retries =
            std::fs::read_to_string(d.path().join("storage/cache/hub-downloads/rev-1.retries"))
                .unwrap();
        assert_eq!(retries, attempt.to_string());
        if attempt == 1 {
            arm();
        } else {
            relay.set_down(false);
        }
        dev = start_with_cmdline(d.path(), None, &hub_cmdline(&relay, Some(&tok)));
    }
    let (seen, last) = watch_step(&hub, &id, 1, 60);
    assert_eq!(last["status"], "WONTGO", "{seen:?} {last}");
    assert_eq!(
        last["status-msg"], "Max update processing retries reached",
        "{last}"
    );
    assert_eq!(last["retries"], 3, "{last}");
    assert!(!dev.log.lock().unwrap().contains("remote revision 1"));
    dev.stop();
}
