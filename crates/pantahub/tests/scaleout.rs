//! Scale-out: two `pantahub serve` processes on one PostgreSQL database
//! and one S3-compatible bucket (a `moto_server` this test starts, see
//! scripts/deps.sh) serve one fleet. A device and a user client alternate
//! between them for every request: register, claim, sync, upload, update,
//! a rollout whose next wave is started by the other process.

use std::io::Read;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pv_testkit::hub::Hub;
use pv_testkit::pg::PgCluster;
use reqwest::blocking::Client;
use serde_json::{json, Value};
use sha2::Digest;

mod common;
use common::pantahub;

fn wait_port(addr: &str, what: &str, child: &mut Child) {
    let start = Instant::now();
    while TcpStream::connect(addr).is_err() {
        if let Ok(Some(st)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("{what} exited ({st}): {err}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what} did not listen on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An S3-compatible server on a free loopback port with bucket `hub`.
fn moto() -> (Proc, String) {
    let port = pv_testkit::free_port();
    let mut c = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("moto_server (scripts/deps.sh installs it)");
    let addr = format!("127.0.0.1:{port}");
    wait_port(&addr, "moto_server", &mut c);
    let url = format!("http://{addr}");
    let r = Client::new().put(format!("{url}/hub")).send().unwrap();
    assert!(r.status().is_success(), "create bucket: {}", r.status());
    (Proc(c), url)
}

const AWS: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", "test"),
    ("AWS_SECRET_ACCESS_KEY", "test"),
    ("AWS_REGION", "us-east-1"),
];

/// A hub process over `data` on the shared database and bucket.
fn hub(data: &Path, db: &str, s3: &str) -> Hub {
    Hub::start(Path::new(env!("CARGO_BIN_EXE_pantahub")), data, |c| {
        c.args(["--database", db])
            .args(["--objects", "s3://hub/fleet"])
            .envs(AWS.iter().copied())
            .env("AWS_ENDPOINT_URL", s3);
    })
}

/// A client that sends each request to the next hub in turn.
struct Alternating {
    hubs: Vec<String>,
    next: std::cell::Cell<usize>,
    http: Client,
}

impl Alternating {
    fn base(&self) -> &str {
        let i = self.next.get();
        self.next.set(i + 1);
        &self.hubs[i % self.hubs.len()]
    }

    /// A request to the next hub; `path` may be a full URL of either hub
    /// (only its path is kept, as devices do).
    fn call(&self, m: &str, path: &str, tok: Option<&str>, body: Option<Vec<u8>>) -> (u16, Value) {
        let path = match path.find("://") {
            Some(i) => &path[i + 3 + path[i + 3..].find('/').unwrap()..],
            None => path,
        };
        let url = format!("{}{path}", self.base());
        let mut rq = self
            .http
            .request(m.parse().unwrap(), url)
            .header("user-agent", "scaleout-test");
        if let Some(t) = tok {
            rq = rq.bearer_auth(t);
        }
        if let Some(b) = body {
            rq = rq.header("content-type", "application/json").body(b);
        }
        let r = rq.send().unwrap();
        let code = r.status().as_u16();
        let bytes = r.bytes().unwrap();
        let v = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        (code, v)
    }

    fn json(&self, m: &str, path: &str, tok: Option<&str>, body: Value) -> Value {
        let (code, v) = self.call(m, path, tok, Some(serde_json::to_vec(&body).unwrap()));
        assert!((200..300).contains(&code), "{m} {path}: {code} {v}");
        v
    }

    fn get(&self, path: &str, tok: &str) -> Value {
        let (code, v) = self.call("GET", path, Some(tok), None);
        assert_eq!(code, 200, "GET {path}: {v}");
        v
    }
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

const POLL: &str = "/steps?progress.status=%7B%22$in%22:%5B%22NEW%22,%22DOWNLOADING%22,%22INPROGRESS%22,%22TESTING%22,%22QUEUED%22%5D%7D";

/// Register, claim, log in and sync a device; returns (id, token).
fn device(c: &Alternating, utok: &str) -> (String, String) {
    let d = c.json("POST", "/devices/", None, json!({}));
    let id = s(&d["id"]);
    c.json(
        "PUT",
        &format!("/devices/{id}?challenge={}", s(&d["challenge"])),
        Some(utok),
        json!({}),
    );
    let tok = s(&c.json(
        "POST",
        "/auth/login",
        None,
        json!({"username": d["prn"], "password": d["secret"]}),
    )["token"]);
    c.json(
        "POST",
        "/trails/",
        Some(&tok),
        json!({"#spec": "pantavisor-service-system@1"}),
    );
    (id, tok)
}

/// The device takes its one pending update to DONE, fetching the object.
fn update(c: &Alternating, id: &str, tok: &str, sha: &str, data: &[u8]) {
    let steps = c.get(&format!("/trails/{id}{POLL}"), tok);
    assert_eq!(steps.as_array().unwrap().len(), 1, "{steps}");
    let rev = steps[0]["rev"].as_i64().unwrap();
    let o = c.get(&format!("/objects/{sha}"), tok);
    let (code, _) = c.call("GET", &s(&o["signed-geturl"]), None, None);
    assert_eq!(code, 200);
    let r = c
        .http
        .get(format!("{}{}", c.base(), path_of(&s(&o["signed-geturl"]))))
        .send()
        .unwrap();
    assert_eq!(r.bytes().unwrap().as_ref(), data, "object bytes from S3");
    for st in ["QUEUED", "DOWNLOADING", "INPROGRESS", "DONE"] {
        c.json(
            "PUT",
            &format!("/trails/{id}/steps/{rev}/progress"),
            Some(tok),
            json!({"status": st, "progress": 100}),
        );
    }
}

fn path_of(url: &str) -> &str {
    let i = url.find("://").map_or(0, |i| i + 3);
    &url[i + url[i..].find('/').unwrap()..]
}

/// The keys of the bucket under a prefix (S3 ListObjectsV2 over HTTP).
fn bucket_keys(s3: &str, prefix: &str) -> String {
    Client::new()
        .get(format!("{s3}/hub?list-type=2&prefix={prefix}"))
        .send()
        .unwrap()
        .text()
        .unwrap()
}

#[test]
fn two_hubs_one_postgres_one_bucket() {
    if !pv_testkit::require_tool("moto_server") {
        return;
    }
    let pg = PgCluster::start();
    let (_moto, s3) = moto();
    let t = tempfile::tempdir().unwrap();
    let (d1, d2) = (t.path().join("a"), t.path().join("b"));
    pantahub(&[
        "user",
        "add",
        "--data",
        d1.to_str().unwrap(),
        "--database",
        &pg.url,
        "--nick",
        "user1",
        "--email",
        "u@example.com",
        "--password",
        "pw",
    ]);
    let (a, b) = (hub(&d1, &pg.url, &s3), hub(&d2, &pg.url, &s3));
    let c = Alternating {
        hubs: vec![a.url.clone(), b.url.clone()],
        next: Default::default(),
        http: Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    };

    // a token signed by one hub is good on the other (keys in the database)
    let utok = s(&c.json(
        "POST",
        "/auth/login",
        None,
        json!({"username": "user1", "password": "pw"}),
    )["token"]);
    assert_eq!(c.get("/auth/auth_status", &utok)["nick"], "user1");
    assert_eq!(c.get("/auth/auth_status", &utok)["nick"], "user1");

    // an object announced on one hub, its bytes put through the other
    let data = b"scale-out payload\n".to_vec();
    let sha = hex::encode(sha2::Sha256::digest(&data));
    let o = c.json(
        "POST",
        "/objects/",
        Some(&utok),
        json!({"objectname": "f", "sha256sum": sha, "size": data.len().to_string()}),
    );
    let mut wrong = data.clone();
    wrong[0] ^= 1;
    let (code, _) = c.call("PUT", &s(&o["signed-puturl"]), None, Some(wrong));
    assert_eq!(code, 400, "wrong bytes are refused");
    assert!(
        !bucket_keys(&s3, "fleet/blobs/").contains(&sha),
        "nothing stored"
    );
    let (code, v) = c.call("PUT", &s(&o["signed-puturl"]), None, Some(data.clone()));
    assert_eq!(code, 200, "{v}");
    assert!(
        bucket_keys(&s3, "fleet/blobs/").contains(&format!("fleet/blobs/{sha}")),
        "the blob is in the bucket"
    );
    for d in [&d1, &d2] {
        assert!(!d.join("objects/blobs").join(&sha).exists());
    }

    // devices, each request on the other hub
    let devs: Vec<(String, String)> = (0..3).map(|_| device(&c, &utok)).collect();
    let state = json!({"#spec": "pantavisor-service-system@1", "f": sha});

    // a plain update of device 0
    let (id0, tok0) = &devs[0];
    c.json(
        "POST",
        &format!("/trails/{id0}/steps"),
        Some(&utok),
        json!({"rev": -1, "commit-msg": "direct", "state": state}),
    );
    update(&c, id0, tok0, &sha, &data);
    assert_eq!(c.get(&format!("/trails/{id0}{POLL}"), tok0), json!([]));

    // a rollout: wave 2 is started by whichever hub took the final report
    let ids: Vec<&str> = devs[1..].iter().map(|(i, _)| i.as_str()).collect();
    let r = c.json(
        "POST",
        "/rollouts",
        Some(&utok),
        json!({"state": state, "devices": ids, "waves": [1, 1]}),
    );
    let rid = s(&r["id"]);
    let (id2, tok2) = &devs[2];
    assert_eq!(c.get(&format!("/trails/{id2}{POLL}"), tok2), json!([]));
    update(&c, &devs[1].0, &devs[1].1, &sha, &data);
    let r = c.get(&format!("/rollouts/{rid}"), &utok);
    assert_eq!(r["waves"][1]["status"], "running", "{r}");
    update(&c, id2, tok2, &sha, &data);
    let r = c.get(&format!("/rollouts/{rid}"), &utok);
    assert_eq!(r["status"], "done", "{r}");
    assert_eq!(c.get("/devices/", &utok).as_array().unwrap().len(), 3);
}
