//! Rollout wave recovery: a hub process that claims a wave and dies
//! before posting its steps (the named fault point
//! `PH_FAULT=rollout-wave-claimed` makes it exit right there) leaves the
//! rollout to the others. On SQLite the same hub, restarted, posts the
//! wave; on PostgreSQL a second process on the database does it while the
//! first stays dead. Either way every device of the wave gets its step
//! exactly once and the rollout finishes.

use std::io::Read;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pv_testkit::pg::PgCluster;
use reqwest::blocking::Client;
use serde_json::{json, Value};

const FAULT: &str = "rollout-wave-claimed";
const POLL: &str = "/steps?progress.status=%7B%22$in%22:%5B%22NEW%22,%22DOWNLOADING%22,%22INPROGRESS%22,%22TESTING%22,%22QUEUED%22%5D%7D";

/// A `pantahub serve` child, killed on drop.
struct HubProc {
    child: Child,
    url: String,
}

impl Drop for HubProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `pantahub serve` on `data` (and `db` when given) with `env`.
fn start(data: &Path, db: Option<&str>, env: &[(&str, &str)]) -> HubProc {
    let addr = format!("127.0.0.1:{}", pv_testkit::free_port());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pantahub"));
    cmd.args(["serve", "--data"])
        .arg(data)
        .args(["--listen", &addr]);
    if let Some(db) = db {
        cmd.args(["--database", db]);
    }
    let mut child = cmd
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while TcpStream::connect(&addr).is_err() {
        if let Ok(Some(st)) = child.try_wait() {
            panic!("pantahub serve exited ({st}): {}", stderr_of(&mut child));
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "no hub on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
    HubProc {
        child,
        url: format!("http://{addr}"),
    }
}

fn stderr_of(child: &mut Child) -> String {
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    err
}

fn add_user(data: &Path, db: Option<&str>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pantahub"));
    cmd.args(["user", "add", "--data"]).arg(data);
    if let Some(db) = db {
        cmd.args(["--database", db]);
    }
    let o = cmd
        .args(["--nick", "user1", "--email", "u@example.com"])
        .args(["--password", "pw"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn call(base: &str, m: &str, path: &str, tok: Option<&str>, body: Option<Value>) -> Value {
    let mut rq = Client::new()
        .request(m.parse().unwrap(), format!("{base}{path}"))
        .header("user-agent", "rollout-recovery-test");
    if let Some(t) = tok {
        rq = rq.bearer_auth(t);
    }
    if let Some(b) = body {
        rq = rq.json(&b);
    }
    let r = rq.send().unwrap();
    let code = r.status();
    let v: Value = r.json().unwrap_or(Value::Null);
    assert!(code.is_success(), "{m} {path}: {code} {v}");
    v
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// A registered, claimed, logged-in and synced device: (id, token).
fn device(base: &str, utok: &str) -> (String, String) {
    let d = call(base, "POST", "/devices/", None, Some(json!({})));
    let id = s(&d["id"]);
    let claim = format!("/devices/{id}?challenge={}", s(&d["challenge"]));
    call(base, "PUT", &claim, Some(utok), Some(json!({})));
    let login = json!({"username": d["prn"], "password": d["secret"]});
    let tok = s(&call(base, "POST", "/auth/login", None, Some(login))["token"]);
    let factory = json!({"#spec": "pantavisor-service-system@1"});
    call(base, "POST", "/trails/", Some(&tok), Some(factory));
    (id, tok)
}

/// The steps the update poll offers a device, waiting up to 30 s for one.
fn wait_update(base: &str, id: &str, tok: &str) -> Vec<Value> {
    let t0 = Instant::now();
    loop {
        let steps = call(base, "GET", &format!("/trails/{id}{POLL}"), Some(tok), None);
        let steps = steps.as_array().cloned().unwrap_or_default();
        if !steps.is_empty() || t0.elapsed() > Duration::from_secs(30) {
            return steps;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The device takes its one update to DONE.
fn apply(base: &str, id: &str, tok: &str) {
    let steps = wait_update(base, id, tok);
    assert_eq!(steps.len(), 1, "device {id} has one update: {steps:?}");
    let rev = steps[0]["rev"].as_i64().unwrap();
    for st in ["QUEUED", "DOWNLOADING", "INPROGRESS", "DONE"] {
        let p = json!({"status": st, "progress": 100});
        let path = format!("/trails/{id}/steps/{rev}/progress");
        call(base, "PUT", &path, Some(tok), Some(p));
    }
}

/// Post a rollout of 3 devices in waves [2, 1] to a hub that dies at the
/// fault point; `other` (a second hub running all along) or else the same
/// hub restarted finishes it.
fn scenario(data: &Path, db: Option<&str>, other: Option<&dyn Fn() -> HubProc>) {
    add_user(data, db);
    let other = other.map(|start_other| start_other());
    let mut doomed = start(data, db, &[("PH_FAULT", FAULT)]);
    let base = doomed.url.clone();
    let login = json!({"username": "user1", "password": "pw"});
    let utok = s(&call(&base, "POST", "/auth/login", None, Some(login))["token"]);
    let devs: Vec<(String, String)> = (0..3).map(|_| device(&base, &utok)).collect();
    let ids: Vec<&str> = devs.iter().map(|(id, _)| id.as_str()).collect();
    let state = json!({"#spec": "pantavisor-service-system@1", "recovery.json": {"v": 2}});
    let body = json!({"state": state, "devices": ids, "waves": [2, 1]});
    let posted = Client::new()
        .post(format!("{base}/rollouts"))
        .bearer_auth(&utok)
        .json(&body)
        .send();
    assert!(posted.is_err(), "the hub died answering: {posted:?}");
    let st = doomed.child.wait().unwrap();
    let err = stderr_of(&mut doomed.child);
    assert_eq!(st.code(), Some(86), "exit at the fault point: {err}");
    assert!(err.contains(&format!("fault point {FAULT}")), "{err}");

    let hub = match other {
        Some(h) => h,
        // the restarted hub posts the wave in its first sweep, at start
        None => start(data, db, &[]),
    };
    let base = hub.url.clone();
    let rollouts = call(&base, "GET", "/rollouts", Some(&utok), None);
    let rid = s(&rollouts[0]["id"]);
    assert_eq!(rollouts.as_array().unwrap().len(), 1, "{rollouts}");
    for (id, tok) in &devs[..2] {
        apply(&base, id, tok);
        let done = format!("/trails/{id}/steps?progress.status=DONE");
        let all = call(&base, "GET", &done, Some(&utok), None);
        let posted: Vec<&Value> = all
            .as_array()
            .unwrap()
            .iter()
            .filter(|st| st["meta"]["rollout"] == json!(rid))
            .collect();
        assert_eq!(posted.len(), 1, "one rollout step for {id}: {all}");
    }
    let (id, tok) = &devs[2];
    apply(&base, id, tok);
    let r = call(&base, "GET", &format!("/rollouts/{rid}"), Some(&utok), None);
    assert_eq!(r["status"], "done", "{r}");
    for w in r["waves"].as_array().unwrap() {
        assert_eq!(w["status"], "done", "{r}");
    }
}

#[test]
fn a_wave_claimed_by_a_dead_hub_is_posted_after_its_restart_on_sqlite() {
    let t = tempfile::tempdir().unwrap();
    scenario(&t.path().join("hub"), None, None);
}

#[test]
fn a_wave_claimed_by_a_dead_hub_is_posted_by_another_on_postgres() {
    let pg = PgCluster::start();
    let t = tempfile::tempdir().unwrap();
    let other_dir = t.path().join("b");
    let other = || start(&other_dir, Some(&pg.url), &[("PH_ROLLOUT_SWEEP_SECS", "1")]);
    scenario(&t.path().join("a"), Some(&pg.url), Some(&other));
}
