//! The parts of the hub end-to-end suite: a real `pantahub serve`, a
//! byte-counting TCP relay between it and the devices, and the helpers
//! that make devices, post updates and read the hub.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::device::bins::workspace_bin;
use crate::device::{checkout, start_with_cmdline, wait, App, Device};
use serde_json::{json, Value};

pub const USER: &str = "user1";
pub const PASSWORD: &str = "secret-pass1";

/// A running `pantahub serve`.
pub struct Hub {
    pub child: Child,
    pub data: PathBuf,
    pub url: String,
    pub token: String,
}

impl Hub {
    pub fn start(dir: &Path) -> Hub {
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
        let port = pv_testkit::free_port();
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

    pub fn login(&self) -> Option<String> {
        let r = client()
            .post(format!("{}/auth/login", self.url))
            .header("Content-Type", "application/json")
            .body(json!({"username": USER, "password": PASSWORD}).to_string())
            .send()
            .ok()?;
        let v: Value = serde_json::from_str(&r.text().ok()?).ok()?;
        v["token"].as_str().map(String::from)
    }

    pub fn join_token(&self) -> String {
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
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
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

    pub fn step(&self, id: &str, rev: u32) -> Value {
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

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .user_agent("hub-e2e")
        .build()
        .unwrap()
}

/// A TCP relay between devices and the hub that counts the bytes of blob
/// downloads (`GET /local-s3/…` connections, server to client) and can
/// drop every connection and refuse new ones, or answer them 503 as a
/// failing hub would.
pub struct Relay {
    pub port: u16,
    pub blob_bytes: Arc<AtomicU64>,
    pub down: Arc<AtomicBool>,
    /// Answer every new connection's request with 503 instead of relaying it.
    pub failing: Arc<AtomicBool>,
    /// Go down once this many blob bytes went by (0: never).
    pub cut_after: Arc<AtomicU64>,
    pub conns: Arc<Mutex<Vec<TcpStream>>>,
    /// (revision, status, when) of every progress report that went by,
    /// in order.
    pub reports: Arc<Mutex<Vec<(String, String, Instant)>>>,
}

/// The revision of a progress report's request line
/// (`PUT /trails/<id>/steps/<rev>/progress`).
pub fn progress_rev(chunk: &[u8]) -> Option<String> {
    let line = String::from_utf8_lossy(&chunk[..chunk.len().min(200)]);
    let path = line.strip_prefix("PUT ")?.split(' ').next()?;
    let rest = path.strip_prefix("/trails/")?.strip_suffix("/progress")?;
    Some(rest.rsplit('/').next()?.to_string())
}

/// The values of `"status":"…"` in a chunk.
pub fn statuses(chunk: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(chunk);
    text.split("\"status\":\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(String::from)
        .collect()
}

impl Relay {
    pub fn start(target: u16) -> Relay {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let r = Relay {
            port,
            blob_bytes: Arc::default(),
            down: Arc::default(),
            failing: Arc::default(),
            cut_after: Arc::default(),
            conns: Arc::default(),
            reports: Arc::default(),
        };
        let failing = r.failing.clone();
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
                if failing.load(Ordering::SeqCst) {
                    std::thread::spawn(move || answer_503(c));
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
    pub fn reported(&self, rev: &str) -> Vec<String> {
        let mut out: Vec<String> = vec![];
        for (r, st, _) in self.reports.lock().unwrap().iter() {
            if r == rev && out.last() != Some(st) {
                out.push(st.clone());
            }
        }
        out
    }

    /// When the first report of `status` for `rev` went by.
    pub fn reported_at(&self, rev: &str, status: &str) -> Option<Instant> {
        let r = self.reports.lock().unwrap();
        r.iter()
            .find(|(r, st, _)| r == rev && st == status)
            .map(|(_, _, t)| *t)
    }

    /// Fail every request from now on (503), the connections open now
    /// cut; or relay again.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
        if failing {
            for c in self.conns.lock().unwrap().drain(..) {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
        if down {
            for c in self.conns.lock().unwrap().drain(..) {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
    }
}

/// What a failing hub does: read the request's head, answer 503, close.
fn answer_503(mut c: TcpStream) {
    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let body = b"{\"Error\":\"hub failing (test relay)\"}";
    let _ = write!(
        c,
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = c.write_all(body);
    let _ = c.shutdown(Shutdown::Both);
}

/// Copy `from` to `to`; `seen(chunk, delivered)` is called before each
/// chunk is written (`false`) and once it was (`true`).
pub fn pipe(mut from: TcpStream, mut to: TcpStream, mut seen: impl FnMut(&[u8], bool)) {
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

pub fn sleeper(name: &str) -> String {
    format!("echo {name}-up; trap 'exit 0' TERM; while true; do sleep 1; done # marker-hub")
}

/// The command of an app that runs [`sleeper`].
pub fn sleeping(name: &str) -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into(), sleeper(name)]
}

pub fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The kernel command line pointing a device at the relay.
pub fn hub_cmdline(relay: &Relay, autotok: Option<&str>) -> String {
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
pub fn hub_device(
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

pub fn device_id(dev: &Device) -> String {
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
pub fn pvr(d: &Path, hub: &Hub, cwd: &Path, args: &[&str]) -> String {
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
pub fn post_app(
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
pub fn commit_app(
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
pub fn changed_bytes(hub: &Hub, id: &str, old: u32, new: u32) -> u64 {
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
pub fn watch_step(hub: &Hub, id: &str, rev: u32, secs: u64) -> (Vec<String>, Value) {
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

pub fn in_order(seen: &[String]) -> bool {
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

/// `len` bytes that do not compress.
pub fn noise(len: usize) -> Vec<u8> {
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
