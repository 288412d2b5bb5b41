//! Our pvr against our hub (`pantahub`): a user token posts a commit to a
//! device's trail and clones it back, byte for byte, over real HTTP.

mod hubkit;

use std::fs;
use std::path::Path;

use hubkit::{call, start_hub, Pvr};
use serde_json::{json, Value};

/// pvr as the holder of `token`; must succeed; stdout and stderr.
fn ok(dir: &Path, cfg: &Path, token: &str, args: &[&str]) -> String {
    let (out, err) = Pvr::new(cfg).with("PVR_AUTH", token).ok(dir, args);
    out + &err
}

#[test]
fn pvr_posts_to_and_clones_from_a_device_trail_on_the_hub() {
    let h = start_hub(&[("user1", "pw-user1")]);
    // a user, and a device it claimed that synced its factory state
    let utok = h.login("user1", "pw-user1");
    let dev = h.register_device();
    let id = dev["id"].as_str().unwrap();
    let claim = format!(
        "{}/devices/{id}?challenge={}",
        h.url,
        dev["challenge"].as_str().unwrap()
    );
    assert_eq!(
        call("PUT", &claim, Some(&utok), json!({}))["owner"],
        json!(h.prn_of("user1", "pw-user1"))
    );
    let dtok = h.device_token(&dev);
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
    Pvr::new(&cfg)
        .with("PVR_AUTH", "")
        .fails(&repo, &["post", "-m", "x", &trail]);
}
