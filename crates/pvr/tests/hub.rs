//! Our pvr against our hub (`pantahub`): a user token posts a commit to a
//! device's trail and clones it back, byte for byte, over real HTTP.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::{json, Value};

fn pvr(dir: &Path, cfg: &Path, token: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pvr"))
        .args(args)
        .current_dir(dir)
        .env("PVR_CONFIG_DIR", cfg)
        .env("PVR_AUTH", token)
        .env_remove("PVR_ACCESSTOKEN")
        .output()
        .unwrap()
}

fn ok(dir: &Path, cfg: &Path, token: &str, args: &[&str]) -> String {
    let o = pvr(dir, cfg, token, args);
    assert!(
        o.status.success(),
        "pvr {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

struct Hub {
    url: String,
    hub: ph_server::AppState,
    rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

fn start_hub() -> Hub {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (url, hub) = rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://127.0.0.1:{}", l.local_addr().unwrap().port());
        let hub = ph_server::Hub::open_dir(dir.path(), ph_server::HubConfig::new(&url))
            .await
            .unwrap();
        let app = ph_server::app(hub.clone());
        tokio::spawn(ph_server::serve(l, app, None, std::future::pending()));
        (url, hub)
    });
    Hub {
        url,
        hub,
        rt,
        _dir: dir,
    }
}

fn call(method: &str, url: &str, token: Option<&str>, body: Value) -> Value {
    let c = reqwest::blocking::Client::new();
    let mut rq = c
        .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url)
        .header("user-agent", "pvr-hub-test")
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        rq = rq.bearer_auth(t);
    }
    let r = rq.send().unwrap();
    assert!(r.status().is_success(), "{method} {url}: {}", r.status());
    serde_json::from_slice(&r.bytes().unwrap()).unwrap()
}

#[test]
fn pvr_posts_to_and_clones_from_a_device_trail_on_the_hub() {
    let h = start_hub();
    // a user, and a device it claimed that synced its factory state
    let user = h.rt.block_on(async {
        ph_server::users::add_user(&h.hub.store, "user1", "u@example.com", "pw-user1", true)
            .await
            .unwrap()
    });
    let utok = call(
        "POST",
        &format!("{}/auth/login", h.url),
        None,
        json!({"username":"user1","password":"pw-user1"}),
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    let dev = call("POST", &format!("{}/devices/", h.url), None, json!({}));
    let id = dev["id"].as_str().unwrap();
    let claim = format!(
        "{}/devices/{id}?challenge={}",
        h.url,
        dev["challenge"].as_str().unwrap()
    );
    assert_eq!(
        call("PUT", &claim, Some(&utok), json!({}))["owner"],
        json!(user.prn)
    );
    let dtok = call(
        "POST",
        &format!("{}/auth/login", h.url),
        None,
        json!({"username": dev["prn"], "password": dev["secret"]}),
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    call(
        "POST",
        &format!("{}/trails/", h.url),
        Some(&dtok),
        json!({"#spec":"pantavisor-service-system@1"}),
    );

    // pvr: commit and post to the trail with the user's token
    let t = tempfile::tempdir().unwrap();
    let cfg = t.path().join("cfg");
    let repo = t.path().join("repo");
    fs::create_dir_all(repo.join("app")).unwrap();
    ok(&repo, &cfg, &utok, &["init"]);
    fs::write(repo.join("app/hello.txt"), "hello from pvr\n").unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(repo.join("app/blob.bin"), &big).unwrap();
    fs::write(repo.join("app/run.json"), r#"{"name":"app","n":1.50}"#).unwrap();
    ok(&repo, &cfg, &utok, &["add", "."]);
    ok(&repo, &cfg, &utok, &["commit", "-m", "first"]);
    let trail = format!("{}/trails/{id}", h.url);
    let out = ok(&repo, &cfg, &utok, &["post", "-m", "from pvr", &trail]);
    assert!(out.contains(id), "{out}");

    // the hub has step 1 with pvr's state and state-sha
    let step = call("GET", &format!("{trail}/steps/1"), Some(&utok), Value::Null);
    assert_eq!(step["commit-msg"], "from pvr");
    let local = fs::read(repo.join(".pvr/json")).unwrap();
    let local_state = pv_json::parse(&local).unwrap();
    assert!(pv_json::values_equal(&step["state"], &local_state));
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(pv_json::to_canonical(&local_state)))
    };
    assert_eq!(step["state-sha"], json!(sha));
    // a second post of the same objects needs no upload (409s) and makes rev 2
    fs::write(repo.join("app/hello.txt"), "hello again\n").unwrap();
    ok(&repo, &cfg, &utok, &["add", "."]);
    ok(&repo, &cfg, &utok, &["commit", "-m", "second"]);
    ok(&repo, &cfg, &utok, &["post", "-m", "again", &trail]);
    let step2 = call("GET", &format!("{trail}/steps/2"), Some(&utok), Value::Null);
    assert_eq!(step2["commit-msg"], "again");

    // pvr clone reproduces the files byte for byte
    ok(t.path(), &cfg, &utok, &["clone", &trail, "copy"]);
    let copy = t.path().join("copy");
    assert_eq!(
        fs::read(copy.join("app/hello.txt")).unwrap(),
        b"hello again\n"
    );
    assert_eq!(fs::read(copy.join("app/blob.bin")).unwrap(), big);
    assert_eq!(
        fs::read(copy.join(".pvr/json")).unwrap(),
        fs::read(repo.join(".pvr/json")).unwrap()
    );
    // the device sees the revision through its poll
    let poll = call(
        "GET",
        &format!("{trail}/steps?progress.status=%7B%22$in%22:%5B%22NEW%22%5D%7D"),
        Some(&dtok),
        Value::Null,
    );
    assert_eq!(poll[0]["rev"], 1);
    // without a token pvr is refused with the hub's login discovery
    let o = pvr(&repo, &cfg, "", &["post", "-m", "x", &trail]);
    assert!(!o.status.success());
}
