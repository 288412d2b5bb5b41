//! pvr's hub commands against a real `pantahub serve`: login through the 401 `ph-aeps`
//! discovery, the token cache and its refresh, claim, clone by trail and by
//! nicks, post/get, device ls/get/set/ps/logs.

mod hubkit;

use std::fs;
use std::path::Path;

use hubkit::{cached_token, call, exp_of, now, start_hub, start_hub_with, Hub, Pvr};
use serde_json::{json, Value};

fn parse(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

#[test]
fn login_discovers_the_auth_endpoint_and_caches_the_token() {
    let h = start_hub(&[("alice", "pw-alice")]);
    let prn = h.prn_of("alice", "pw-alice");
    let t = tempfile::tempdir().unwrap();
    let cfg = t.path().join("cfg");
    let anon = Pvr::new(&cfg);
    // no credentials and no terminal: a clear refusal, nothing cached
    let err = anon.fails(t.path(), &["login", &h.url]);
    assert!(err.contains("pvr login"), "{err}");
    assert!(!cfg.join("auth.json").exists());
    // wrong password: refused, nothing cached
    let bad = Pvr::new(&cfg)
        .with("PVR_USER", "alice")
        .with("PVR_PASSWORD", "nope");
    bad.fails(t.path(), &["login", &h.url]);
    assert!(cached_token(&cfg, &h.url).is_none());

    let (out, _) = Pvr::new(&cfg).ok(
        t.path(),
        &[
            "login",
            &format!("{}/auth", h.url),
            "--user",
            "alice",
            "--password",
            "pw-alice",
        ],
    );
    assert!(out.starts_with(&format!("Response of GET {}/auth/auth_status\n", h.url)));
    assert!(out.ends_with("LoggedIn Successfully!\n"), "{out}");
    assert!(out.contains(&prn), "{out}");
    let tok = cached_token(&cfg, &h.url).expect("token cached under the ph-aeps key");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(cfg.join("auth.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // the hub accepts the cached token as is
    assert_eq!(
        call(
            "GET",
            &format!("{}/auth/auth_status", h.url),
            Some(&tok),
            Value::Null
        )["nick"],
        "alice"
    );
    // later runs use the cache, without credentials
    let (out, _) = anon.ok(t.path(), &["whoami"]);
    assert_eq!(out, format!("alice({prn}) at {}/auth\n", h.url));
    let (out, _) = anon.ok(t.path(), &["device", "ls", "--json"]);
    assert_eq!(parse(&out), json!([]));
    // `pvr login` always logs in anew: the env credentials are used
    let (out, _) = Pvr::new(&cfg)
        .with("PVR_USER", "alice")
        .with("PVR_PASSWORD", "pw-alice")
        .ok(t.path(), &["login", &h.url, "--json"]);
    assert_eq!(parse(&out)["prn"], json!(prn));
}

/// Wait (polling the clock) until `cond` holds.
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed().as_secs() < 30, "timed out waiting: {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn tokens_are_refreshed_before_expiry_and_renewed_after() {
    // 16-second tokens: refreshed once less than 8 s are left (pvr gets at
    // least 3 s to start and make its call before the token expires)
    let h = start_hub_with(&[("bob", "pw-bob")], Some(16));
    let t = tempfile::tempdir().unwrap();
    let cfg = t.path().join("cfg");
    let creds = Pvr::new(&cfg)
        .with("PVR_USER", "bob")
        .with("PVR_PASSWORD", "pw-bob");
    let anon = Pvr::new(&cfg).with("PVR_BASEURL", &h.url);
    creds.ok(t.path(), &["login", &h.url]);
    let first = cached_token(&cfg, &h.url).unwrap();
    let exp1 = exp_of(&first);
    wait_until("the token nears expiry", || exp1 - now() < 8);
    assert!(exp1 - now() > 3, "missed the refresh window");
    anon.ok(t.path(), &["device", "ls"]);
    let second = cached_token(&cfg, &h.url).unwrap();
    assert_ne!(second, first, "refreshed");
    assert!(exp_of(&second) > exp1);
    // once expired, a run without credentials is refused and says why…
    let exp2 = exp_of(&second);
    wait_until("the token expires", || now() > exp2);
    let err = anon.fails(t.path(), &["device", "ls"]);
    assert!(err.contains("401") && err.contains("pvr login"), "{err}");
    // …and one with credentials logs in again through the 401 discovery
    let with = Pvr::new(&cfg)
        .with("PVR_BASEURL", &h.url)
        .with("PVR_USER", "bob")
        .with("PVR_PASSWORD", "pw-bob");
    with.ok(t.path(), &["device", "ls"]);
    let third = cached_token(&cfg, &h.url).unwrap();
    assert!(exp_of(&third) > now());
}

fn write_app(repo: &Path, name: &str, body: &str) {
    fs::create_dir_all(repo.join(name)).unwrap();
    fs::write(
        repo.join(name).join("run.json"),
        format!(r#"{{"name":"{name}"}}"#),
    )
    .unwrap();
    fs::write(repo.join(name).join("data.bin"), body).unwrap();
}

#[test]
fn claim_clone_post_and_get_through_the_hub() {
    let h = start_hub(&[("carol", "pw-carol")]);
    let prn = h.prn_of("carol", "pw-carol");
    let t = tempfile::tempdir().unwrap();
    let cfg = t.path().join("cfg");
    let pvr = Pvr::new(&cfg)
        .with("PVR_USER", "carol")
        .with("PVR_PASSWORD", "pw-carol");

    // an unclaimed device; a wrong challenge is refused
    let dev = h.register_device();
    let id = dev["id"].as_str().unwrap();
    let dev_url = format!("{}/devices/{id}", h.url);
    pvr.fails(t.path(), &["claim", "-c", "not-the-challenge", &dev_url]);
    let (out, _) = pvr.ok(
        t.path(),
        &[
            "claim",
            "-c",
            dev["challenge"].as_str().unwrap(),
            &dev_url,
            "--json",
        ],
    );
    let claimed = parse(&out);
    assert_eq!(claimed["owner"], json!(prn));
    let nick = claimed["nick"].as_str().unwrap().to_string();

    // the device syncs its factory state (rev 0) with one object
    let dtok = h.device_token(&dev);
    let factory_obj = b"factory bytes\n";
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(factory_obj))
    };
    let o = call(
        "POST",
        &format!("{}/objects/", h.url),
        Some(&dtok),
        json!({"objectname":"base/data.bin","sha256sum":sha,"size":factory_obj.len().to_string()}),
    );
    let put = o["signed-puturl"].as_str().unwrap();
    let r = reqwest::blocking::Client::new()
        .put(put)
        .body(factory_obj.to_vec())
        .send()
        .unwrap();
    assert!(r.status().is_success());
    call(
        "POST",
        &format!("{}/trails/", h.url),
        Some(&dtok),
        json!({"#spec":"pantavisor-service-system@1","base/data.bin":sha,"base/run.json":{"name":"base"}}),
    );

    // clone by trail and by <user-nick>/<device-nick>: the same files
    pvr.ok(
        t.path(),
        &["clone", &format!("{}/trails/{id}", h.url), "by-id"],
    );
    let (out, _) = pvr.ok(t.path(), &["clone", &format!("{}/carol/{nick}", h.url)]);
    assert!(out.contains(&format!(
        "Successfully cloned: {}",
        t.path().join(&nick).display()
    )));
    let by_id = t.path().join("by-id");
    let by_nick = t.path().join(&nick);
    assert_eq!(fs::read(by_id.join("base/data.bin")).unwrap(), factory_obj);
    assert_eq!(
        fs::read(by_id.join(".pvr/json")).unwrap(),
        fs::read(by_nick.join(".pvr/json")).unwrap()
    );

    // add an app, commit, post by nick: only the new object is uploaded
    write_app(&by_nick, "app", &"x".repeat(100_000));
    pvr.ok(&by_nick, &["add", "."]);
    pvr.ok(&by_nick, &["commit", "-m", "add app"]);
    let (out, err) = pvr.ok(&by_nick, &["post", "-m", "app via nick", "--json"]);
    assert!(
        err.contains("Uploaded 1 objects (100000 bytes); 1 already on the remote"),
        "{err}"
    );
    let step = parse(&out);
    assert_eq!(step["rev"], 1);
    assert_eq!(step["commit-msg"], "app via nick");
    assert_eq!(step["progress"]["status"], "NEW");
    // the same objects again under a new message: nothing to upload
    fs::write(by_nick.join("app/run.json"), r#"{"name":"app","v":2}"#).unwrap();
    pvr.ok(&by_nick, &["commit", "-m", "v2"]);
    let (_, err) = pvr.ok(&by_nick, &["post"]);
    assert!(err.contains("Uploaded 0 objects (0 bytes)"), "{err}");
    assert!(err.contains("Successfully posted Revision 2"), "{err}");

    // the other clone gets the new revision with its objects
    let (out, err) = pvr.ok(&by_id, &["get"]);
    assert!(out.contains("Imported 2 objects"), "{out}{err}");
    pvr.ok(&by_id, &["checkout"]);
    assert_eq!(
        fs::read(by_id.join("app/data.bin")).unwrap(),
        "x".repeat(100_000).as_bytes()
    );
    assert_eq!(
        parse(&fs::read_to_string(by_id.join("app/run.json")).unwrap()),
        json!({"name":"app","v":2})
    );
    // a revision of the nick URL
    pvr.ok(
        t.path(),
        &["clone", &format!("{}/carol/{nick}/1", h.url), "rev1"],
    );
    assert_eq!(
        parse(&fs::read_to_string(t.path().join("rev1/app/run.json")).unwrap()),
        json!({"name":"app"})
    );
    // `carol/<nick>` alone: the hub logged in to
    pvr.ok(t.path(), &["clone", &format!("carol/{nick}"), "short"]);
    assert_eq!(
        fs::read(t.path().join("short/.pvr/json")).unwrap(),
        fs::read(by_nick.join(".pvr/json")).unwrap()
    );
    // an unknown nick is a clear error
    let err = pvr.fails(t.path(), &["clone", &format!("{}/carol/nobody", h.url)]);
    assert!(err.contains("404"), "{err}");

    // without credentials: a private device is refused; once public, it is
    // read as the anonymous reader (nothing cached)
    let stranger = Pvr::new(&t.path().join("cfg2"));
    let trail = format!("{}/trails/{id}", h.url);
    let err = stranger.fails(t.path(), &["clone", &trail, "anon"]);
    assert!(err.contains("pvr login"), "{err}");
    let utok = h.login("carol", "pw-carol");
    call(
        "PUT",
        &format!("{}/devices/{id}/public", h.url),
        Some(&utok),
        Value::Null,
    );
    stranger.ok(t.path(), &["clone", &trail, "anon"]);
    assert_eq!(
        fs::read(t.path().join("anon/.pvr/json")).unwrap(),
        fs::read(by_nick.join(".pvr/json")).unwrap()
    );
    assert!(!t.path().join("cfg2/auth.json").exists());
    // posting still needs a login
    let err = stranger.fails(&t.path().join("anon"), &["post", "-m", "x"]);
    assert!(err.contains("pvr login"), "{err}");
}

/// A hub with one account, that account's token, a temp dir, and pvr run
/// as that account with the hub as its default remote.
struct Fleet {
    h: Hub,
    utok: String,
    t: tempfile::TempDir,
    pvr: Pvr,
}

fn fleet(nick: &str, password: &str) -> Fleet {
    let h = start_hub(&[(nick, password)]);
    let utok = h.login(nick, password);
    let t = tempfile::tempdir().unwrap();
    let pvr = Pvr::new(&t.path().join("cfg"))
        .with("PVR_USER", nick)
        .with("PVR_PASSWORD", password)
        .with("PVR_BASEURL", &h.url);
    Fleet { h, utok, t, pvr }
}

#[test]
fn device_commands_show_and_change_the_fleet() {
    let Fleet { h, utok, t, pvr } = fleet("dave", "pw-dave");

    let (id, dtok) = h.claimed_device(&utok);
    let id = id.as_str();
    call(
        "POST",
        &format!("{}/trails/{id}/steps", h.url),
        Some(&utok),
        json!({"rev":-1,"commit-msg":"next","state":{"#spec":"pantavisor-service-system@1","a.json":{}}}),
    );
    call(
        "PUT",
        &format!("{}/trails/{id}/steps/1/progress", h.url),
        Some(&dtok),
        json!({"status":"DOWNLOADING","progress":25,"status-msg":"fetching objects"}),
    );
    call(
        "POST",
        &format!("{}/logs/", h.url),
        Some(&dtok),
        json!([
            {"tsec": 1_700_000_000, "tnano": 0, "src": "pantavisor.log", "lvl": "INFO", "plat": "linux", "rev": "1", "msg": "first line"},
            {"tsec": 1_700_000_001, "tnano": 0, "src": "app.log", "lvl": "ERROR", "plat": "app", "rev": "1", "msg": "second line"}
        ]),
    );

    let (out, _) = pvr.ok(t.path(), &["device", "ls", "--json"]);
    let list = parse(&out);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], json!(id));
    let nick = list[0]["nick"].as_str().unwrap().to_string();
    let (out, _) = pvr.ok(t.path(), &["device", "ls"]);
    assert!(out.starts_with("ID") && out.contains(&nick), "{out}");

    let (out, _) = pvr.ok(t.path(), &["device", "get", &nick]);
    assert_eq!(parse(&out)["id"], json!(id));

    let (out, _) = pvr.ok(t.path(), &["device", "set", id, "a=1", "b=two"]);
    assert!(
        out.ends_with("user-meta field Updated Successfully\n"),
        "{out}"
    );
    let meta = call(
        "GET",
        &format!("{}/devices/{id}/user-meta", h.url),
        Some(&utok),
        Value::Null,
    );
    assert_eq!(
        (meta["a"].clone(), meta["b"].clone()),
        (json!("1"), json!("two"))
    );
    pvr.fails(t.path(), &["device", "set", id, "novalue"]);

    for args in [&["device", "ps", "--json"][..], &["ps", "--json"][..]] {
        let (out, _) = pvr.ok(t.path(), args);
        let ps = parse(&out);
        assert_eq!(ps[0]["revision"], 1, "{out}");
        assert_eq!(ps[0]["status"], "DOWNLOADING");
        assert_eq!(ps[0]["progress"], 25);
    }
    let (out, _) = pvr.ok(t.path(), &["ps"]);
    let row = out.lines().nth(1).unwrap();
    assert!(row.starts_with(&id[..8]), "{out}");
    assert!(
        row.contains("DOWNLOADING") && row.contains("25%") && row.contains("fetching objects"),
        "{out}"
    );

    let (out, _) = pvr.ok(t.path(), &["device", "logs"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            format!(
                "2023-11-14T22:13:20Z {}:linux(pantavisor.log):INFO\tfirst line",
                &id[..8]
            ),
            format!(
                "2023-11-14T22:13:21Z {}:app(app.log):ERROR\tsecond line",
                &id[..8]
            ),
        ]
    );
    let (out, _) = pvr.ok(
        t.path(),
        &[
            "device",
            "logs",
            &format!("{id}@ERROR"),
            "--template",
            "json",
        ],
    );
    let lines: Vec<Value> = out.lines().map(parse).collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert_eq!(lines[0]["msg"], "second line");
    let (out, _) = pvr.ok(t.path(), &["device", "logs", "--source", "pantavisor.log"]);
    assert_eq!(out.lines().count(), 1, "{out}");
}

#[test]
fn rollout_posts_the_committed_state_in_waves() {
    let Fleet { h, utok, t, pvr } = fleet("erin", "pw-erin");
    let ids: Vec<String> = (0..3).map(|_| h.claimed_device(&utok).0).collect();
    let repo = t.path().join("repo");
    fs::create_dir_all(&repo).unwrap();
    pvr.ok(&repo, &["init"]);
    write_app(&repo, "app", "rolled out\n");
    pvr.ok(&repo, &["add", "."]);
    pvr.ok(&repo, &["commit", "-m", "v2"]);
    // one device per wave; the state's object is uploaded first
    let (out, err) = pvr.ok(
        &repo,
        &[
            "rollout",
            "create",
            "-m",
            "v2 to all",
            "--devices",
            &ids.join(","),
            "--waves",
            "1,1,1",
            "--json",
        ],
    );
    assert!(err.contains("Uploaded 1 objects (11 bytes)"), "{err}");
    let r = parse(&out);
    let rid = r["id"].as_str().unwrap().to_string();
    assert_eq!(r["status"], "running");
    assert_eq!(r["waves"].as_array().unwrap().len(), 3);
    assert_eq!(r["waves"][0]["status"], "running");
    assert_eq!(r["waves"][1]["status"], "pending");
    let first = r["waves"][0]["devices"][0].as_str().unwrap();
    let rev = r["waves"][0]["revs"][first].as_i64().unwrap();
    let step = call(
        "GET",
        &format!("{}/trails/{first}/steps/{rev}", h.url),
        Some(&utok),
        Value::Null,
    );
    let local = parse(&fs::read_to_string(repo.join(".pvr/json")).unwrap());
    assert_eq!(step["state"], local);
    assert_eq!(step["commit-msg"], "v2 to all");

    let (out, _) = pvr.ok(&repo, &["rollout", "ls"]);
    assert!(out.lines().nth(1).unwrap().starts_with(&rid), "{out}");
    let (out, _) = pvr.ok(&repo, &["rollout", "pause", &rid]);
    assert!(
        out.starts_with(&format!("Rollout {rid}: paused (paused by erin)")),
        "{out}"
    );
    let (out, _) = pvr.ok(&repo, &["rollout", "resume", &rid, "--json"]);
    assert_eq!(parse(&out)["status"], "running");
    let (out, _) = pvr.ok(&repo, &["rollout", "abort", &rid, "--json"]);
    let r = parse(&out);
    assert_eq!(r["status"], "aborted");
    assert_eq!(r["waves"][2]["status"], "aborted");
    let (out, _) = pvr.ok(&repo, &["rollout", "get", &rid]);
    assert!(out.contains("wave 3: aborted"), "{out}");
    // bad arguments change nothing on the hub
    pvr.fails(&repo, &["rollout", "create", "--waves", "1"]);
    pvr.fails(&repo, &["rollout", "get", "../x"]);
    let (out, _) = pvr.ok(&repo, &["rollout", "ls", "--json"]);
    assert_eq!(parse(&out).as_array().unwrap().len(), 1);
}
