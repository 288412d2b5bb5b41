//! The web console in a real headless Chromium (chromium-driver) against
//! a real `pantahub serve`, with devices simulated over the device HTTP
//! protocol (register, login, device-meta, trails, progress, logs): log
//! in (a forged login post refused), the fleet and its exact metadata
//! filter, a join token, a claim, the device page, a user-meta edit the
//! device then reads, an update's progress and device-meta followed
//! without reload, a failed update's log, a state tree and a diff,
//! filtered logs with a live tail, rollouts (a failed wave says so), and
//! that another user's pages never show these devices.
//! Screenshots of every page go to `target/tmp/console/`.

use std::path::Path;
use std::time::{Duration, Instant};

use pv_testkit::hub::Hub;
use pv_testkit::webdriver::Browser;
use serde_json::{json, Value};
use sha2::Digest;

const SYS: &str = "pantavisor-service-system@1";

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .user_agent("ph-console-test")
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A device speaking the hub's device protocol.
struct Dev {
    base: String,
    id: String,
    prn: String,
    challenge: String,
    token: String,
    http: reqwest::blocking::Client,
}

impl Dev {
    /// Register (with a join token, or unclaimed) and log in.
    fn register(base: &str, join: Option<&str>) -> Dev {
        let http = http();
        let mut rq = http.post(format!("{base}/devices/")).json(&json!({}));
        if let Some(t) = join {
            rq = rq.header("Pantahub-Devices-Auto-Token-V1", t);
        }
        let d: Value = rq.send().unwrap().json().unwrap();
        let login: Value = http
            .post(format!("{base}/auth/login"))
            .json(&json!({"username": d["prn"], "password": d["secret"]}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        Dev {
            base: base.into(),
            id: d["id"].as_str().unwrap().into(),
            prn: d["prn"].as_str().unwrap().into(),
            challenge: d["challenge"].as_str().unwrap_or("").into(),
            token: login["token"].as_str().unwrap().into(),
            http,
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rq = self.http.request(m, url).bearer_auth(&self.token);
        if let Some(b) = body {
            rq = rq.json(&b);
        }
        let r = rq.send().unwrap();
        let code = r.status();
        let v = r.json().unwrap_or(Value::Null);
        assert!(code.is_success(), "{method} {path}: {code} {v}");
        v
    }

    /// The device's heartbeat: its whole device-meta.
    fn report(&self, rev: &str) {
        let meta = json!({"pantavisor.revision": rev, "pantahub.state": "idle", "arch": "x86_64"});
        self.call(
            "PUT",
            &format!("/devices/{}/device-meta", self.id),
            Some(meta),
        );
    }

    /// Upload an object as this device; returns its sha.
    fn upload(&self, name: &str, data: &[u8]) -> String {
        let sha = hex::encode(sha2::Sha256::digest(data));
        let body = json!({"objectname": name, "sha256sum": sha, "size": data.len().to_string()});
        let r = self
            .http
            .post(format!("{}/objects/", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .unwrap();
        if r.status().as_u16() == 409 {
            return sha;
        }
        let v: Value = r.json().unwrap();
        let put = self
            .http
            .put(v["signed-puturl"].as_str().unwrap())
            .body(data.to_vec())
            .send()
            .unwrap();
        assert!(put.status().is_success(), "{put:?}");
        sha
    }

    fn progress(&self, rev: i64, p: Value) {
        self.call(
            "PUT",
            &format!("/trails/{}/steps/{rev}/progress", self.id),
            Some(p),
        );
    }

    fn log(&self, entries: Value) {
        self.call("POST", "/logs/", Some(entries));
    }

    fn user_meta(&self) -> Value {
        self.call("GET", &format!("/devices/{}/user-meta", self.id), None)
    }
}

fn user_token(base: &str, nick: &str) -> String {
    let v: Value = http()
        .post(format!("{base}/auth/login"))
        .json(&json!({"username": nick, "password": format!("pw-{nick}")}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    v["token"].as_str().unwrap().into()
}

/// The login form's CSRF cookie (`name=value`) and its hidden field.
fn login_form(h: &reqwest::blocking::Client, base: &str) -> (String, String) {
    let r = h.get(format!("{base}/ui/login")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.starts_with("ph_console_login=")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_string();
    let html = r.text().unwrap();
    let field = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .expect("the login form's CSRF field")
        .to_string();
    assert_eq!(pair, format!("ph_console_login={field}"));
    (pair, field)
}

fn login(b: &Browser, base: &str, nick: &str) {
    b.goto(&format!("{base}/"));
    b.fill("input[name=username]", nick);
    b.fill("input[name=password]", &format!("pw-{nick}"));
    b.click("button[type=submit]");
    b.wait_text(&["Fleet", "Log out"], 20);
}

#[test]
fn console_in_a_headless_browser() {
    if !pv_testkit::require_tools(&["chromium", "chromedriver"]) {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("hub");
    let bin = Path::new(env!("CARGO_BIN_EXE_pantahub"));
    for nick in ["alice", "bob"] {
        let (email, pw) = (format!("{nick}@example.com"), format!("pw-{nick}"));
        Hub::add_user(bin, &data, nick, &email, &pw);
    }
    let hub = Hub::start(bin, &data, |_| {});
    let base = hub.url.clone();
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console");
    let _ = std::fs::remove_dir_all(&out);

    // outside the browser: pages need a session, forms a CSRF token, the
    // cookie is HttpOnly and SameSite
    let h = http();
    let r = h.get(format!("{base}/ui/fleet")).send().unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/ui/login");
    // the login form's token: a forged post (another site's form: no
    // login cookie, or a token of its own) is refused, password or not
    let (login_cookie, login_csrf) = login_form(&h, &base);
    let (other_cookie, _) = login_form(&h, &base);
    assert_ne!(login_cookie, other_cookie, "a token per browser");
    let good = [
        ("csrf", login_csrf.as_str()),
        ("username", "alice"),
        ("password", "pw-alice"),
    ];
    for (cookie, form) in [
        (None, &good[..]),
        (None, &good[1..]),
        (Some(&login_cookie), &good[1..]),
        (Some(&other_cookie), &good[..]),
    ] {
        let mut rq = h.post(format!("{base}/ui/login")).form(form);
        if let Some(c) = cookie {
            rq = rq.header("Cookie", c);
        }
        let r = rq.send().unwrap();
        assert_eq!(
            r.status().as_u16(),
            403,
            "forged login: {cookie:?} {form:?}"
        );
        assert!(r.headers().get("set-cookie").is_none());
    }
    let r = h
        .post(format!("{base}/ui/login"))
        .header("Cookie", &login_cookie)
        .form(&[
            ("csrf", login_csrf.as_str()),
            ("username", "alice"),
            ("password", "wrong"),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = h
        .post(format!("{base}/ui/login"))
        .header("Cookie", &login_cookie)
        .form(&good)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_string())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("ph_console_login=;") && c.contains("Max-Age=0")),
        "the login token is spent: {cookies:?}"
    );
    let cookie = cookies
        .iter()
        .find(|c| c.starts_with("ph_console="))
        .unwrap()
        .clone();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let r = h
        .post(format!("{base}/ui/tokens"))
        .header("Cookie", &session)
        .form(&[("csrf", "forged"), ("nick", "x")])
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 403, "a form without the CSRF token");
    // the API is still there behind the console
    assert_eq!(
        h.get(format!("{base}/healthz"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        200
    );

    // bob's device, claimed through the API
    let bob_tok = user_token(&base, "bob");
    let bobs = Dev::register(&base, None);
    let r = h
        .put(format!(
            "{base}/devices/{}?challenge={}",
            bobs.id, bobs.challenge
        ))
        .bearer_auth(&bob_tok)
        .send()
        .unwrap();
    assert!(r.status().is_success());
    bobs.report("0");

    let mut b = Browser::start(&out);
    b.goto(&format!("{base}/"));
    b.wait_text(&["Log in"], 20);
    b.shot("login");
    login(&b, &base, "alice");
    b.wait_text(&["0 devices", "No device"], 10);

    // a join token, and a device that joins with it
    b.click("a[href='/ui/tokens']");
    b.fill("input[name=nick]", "lab-token");
    b.fill("input[name=meta]", "site=lab");
    b.click("form.inline button[type=submit]");
    let t = b.wait_text(&["PH_FACTORY_AUTOTOK="], 10);
    b.shot("join-token");
    let line = t
        .lines()
        .find(|l| l.starts_with("PH_FACTORY_AUTOTOK="))
        .unwrap();
    let token = line.trim_start_matches("PH_FACTORY_AUTOTOK=");
    let joined = Dev::register(&base, Some(token));
    joined.report("0");

    // claim an unclaimed device by id and challenge
    let dev = Dev::register(&base, None);
    b.click("a[href='/ui/claim']");
    b.fill("input[name=id]", &dev.id);
    b.fill("input[name=challenge]", "wrong-challenge");
    b.click("main form button[type=submit]");
    b.wait_text(&["No unclaimed device has this id and challenge"], 10);
    b.fill("input[name=challenge]", &dev.challenge);
    b.click("main form button[type=submit]");
    b.wait_text(&["Revisions", "No revision yet", "offline"], 10);
    b.shot("claimed-device");

    // the device syncs its factory revision and reports
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let kernel = dev.upload("kernel.img", &vec![7u8; 300 << 10]);
    let app = dev.upload("root.squashfs", &vec![9u8; 5000]);
    let state0 = json!({"#spec": SYS, "bsp/kernel.img": kernel, "app/root.squashfs": app,
                        "app/run.json": {"name": "app", "type": "lxc"}});
    dev.call("POST", "/trails/", Some(state0.clone()));
    dev.report("0");
    dev.log(json!([
        {"tsec": now + 1, "tnano": 0, "plat": "app", "src": "console.log", "lvl": "INFO", "msg": "app started"},
        {"tsec": now + 2, "tnano": 0, "plat": "pantavisor", "src": "pantavisor.log", "lvl": "ERROR", "msg": "disk almost full"},
        {"tsec": now + 3, "tnano": 0, "plat": "app", "src": "console.log", "lvl": "DEBUG", "msg": "tick 1"},
    ]));

    // the fleet: counts, status, filter
    b.click_and_load("a[href='/ui/fleet']");
    let t = b.wait_text(&["2 devices", "online", "rev 0", "DONE"], 10);
    assert!(!t.contains(&bobs.id), "{t}");
    b.shot("fleet");
    b.fill("input[name=meta]", "site=lab");
    b.click_and_load("form.filter button[type=submit]");
    let t = b.wait_text(&["1 device"], 10);
    assert_eq!(
        b.script("return document.querySelector('ul.counts li').innerText"),
        "1 device"
    );
    let joined_nick = b.script("return document.querySelector('table.fleet td a').textContent");
    assert!(t.contains(joined_nick.as_str().unwrap()));
    b.shot("fleet-filtered");
    // exact: neither a part of the value nor the key/value text inside
    // another value matches
    dev.call(
        "PATCH",
        &format!("/devices/{}/device-meta", dev.id),
        Some(json!({"note": "\"site\":\"lab\""})),
    );
    for filter in ["site=la", "site=\"lab\"", "ite=lab"] {
        b.fill("input[name=meta]", filter);
        b.click_and_load("form.filter button[type=submit]");
        b.wait_text(&["No device matches this filter"], 10);
    }
    b.fill("input[name=meta]", "note");
    b.click_and_load("form.filter button[type=submit]");
    b.wait_text(&["1 device"], 10);
    assert_eq!(
        b.script("return document.querySelector('table.fleet td a').getAttribute('href')"),
        format!("/ui/devices/{}", dev.id).as_str()
    );

    // the device page: edit user-meta, the device reads it
    b.goto(&format!("{base}/ui/devices/{}", dev.id));
    b.wait_text(
        &["Revisions", "rev 0", "User metadata", "pantahub.state"],
        10,
    );
    b.fill("#set-user-meta input[name=key]", "greeting");
    b.fill("#set-user-meta input[name=value]", "hello from the console");
    b.click("#set-user-meta button");
    b.wait_text(&["greeting", "hello from the console"], 10);
    assert_eq!(dev.user_meta()["greeting"], "hello from the console");

    // an update followed without a reload
    let user = user_token(&base, "alice");
    let mut state1 = state0.clone();
    state1["app/root.squashfs"] = json!(dev.upload("root.squashfs", &vec![8u8; 7000]));
    let post = |state: &Value, msg: &str| {
        let r = h
            .post(format!("{base}/trails/{}/steps", dev.id))
            .bearer_auth(&user)
            .json(&json!({"rev": -1, "commit-msg": msg, "state": state}))
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{r:?}");
    };
    post(&state1, "new app");
    b.script("window.__same_page = 'yes'; return 1;");
    b.wait_text(&["rev 1", "new app"], 10);
    dev.progress(
        1,
        json!({"status": "DOWNLOADING", "progress": 40, "status-msg": "fetching objects"}),
    );
    b.wait_text(&["DOWNLOADING", "fetching objects"], 10);
    b.shot("update-downloading");
    dev.progress(
        1,
        json!({"status": "DONE", "progress": 100, "status-msg": "Update finished"}),
    );
    let meta_rev = "return [...document.querySelectorAll('#device-meta tr')]\
        .filter(r => r.querySelector('th').textContent === 'pantavisor.revision')\
        .map(r => r.querySelector('td').textContent).join()";
    assert_eq!(b.script(meta_rev), "0");
    dev.report("1");
    b.wait_text(&["Update finished", "running rev 1"], 10);
    // the device-meta table follows too
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.script(meta_rev) != "1" {
        assert!(Instant::now() < deadline, "device-meta not live");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(b.script("return window.__same_page || 'reloaded'"), "yes");
    b.shot("device-updated");

    // a failed update: its whole log
    let mut state2 = state1.clone();
    state2["app/run.json"] = json!({"name": "app", "type": "lxc", "broken": true});
    post(&state2, "broken app");
    let log: String = (1..=40)
        .map(|i| format!("update step {i}\n"))
        .collect::<String>()
        + "container app failed to start: exit 1";
    dev.progress(
        2,
        json!({"status": "ERROR", "progress": 100, "status-msg": "Update failed", "logs": log}),
    );
    let t = b.wait_text(
        &[
            "ERROR",
            "update step 1\n",
            "update step 40",
            "container app failed to start",
        ],
        10,
    );
    assert!(t.contains("Update failed"));
    b.shot("device-failed-update");

    // a revision as a tree, a diff
    b.goto(&format!("{base}/ui/devices/{}/revs/1", dev.id));
    b.wait_text(
        &[
            "kernel.img",
            "300.0 KiB",
            "root.squashfs",
            "6.8 KiB",
            "run.json",
        ],
        10,
    );
    b.shot("revision-tree");
    b.goto(&format!("{base}/ui/devices/{}/diff?a=0&b=2", dev.id));
    let t = b.wait_text(&["app/root.squashfs", "app/run.json"], 10);
    assert!(
        !t.contains("bsp/kernel.img"),
        "unchanged paths are not listed: {t}"
    );
    b.shot("diff");

    // logs: a filter, then the live tail
    b.goto(&format!("{base}/ui/devices/{}/logs", dev.id));
    b.wait_text(&["app started", "disk almost full", "tick 1"], 10);
    b.goto(&format!("{base}/ui/devices/{}/logs?lvl=ERROR", dev.id));
    let t = b.wait_text(&["disk almost full"], 10);
    assert!(!t.contains("app started") && !t.contains("tick 1"), "{t}");
    b.script("window.__same_page = 'yes'; return 1;");
    dev.log(json!([
        {"tsec": now + 4, "tnano": 0, "plat": "app", "src": "console.log", "lvl": "INFO", "msg": "quiet line"},
        {"tsec": now + 5, "tnano": 0, "plat": "app", "src": "console.log", "lvl": "ERROR", "msg": "live error line"},
    ]));
    let t = b.wait_text(&["live error line"], 10);
    assert!(!t.contains("quiet line"), "{t}");
    assert_eq!(b.script("return window.__same_page || 'reloaded'"), "yes");
    b.goto(&format!(
        "{base}/ui/devices/{}/logs?plat=app&text=tick",
        dev.id
    ));
    let t = b.wait_text(&["tick 1"], 10);
    assert!(
        !t.contains("app started") && !t.contains("disk almost full"),
        "{t}"
    );
    b.shot("logs-filtered");

    // a staged rollout: the lab devices in waves of 1 and 2, paused by
    // the failure of the first wave, resumed, then aborted
    let lab: Vec<Dev> = std::iter::once(joined)
        .chain((0..2).map(|_| Dev::register(&base, Some(token))))
        .collect();
    for d in &lab {
        d.upload("kernel.img", &vec![7u8; 300 << 10]);
        d.upload("root.squashfs", &vec![9u8; 5000]);
        d.call("POST", "/trails/", Some(state0.clone()));
        d.report("0");
    }
    b.click("a[href='/ui/rollouts']");
    b.wait_text(&["No rollout yet", "New rollout"], 10);
    b.fill("input[name=from_device]", &dev.id);
    b.fill("input[name=from_rev]", "1");
    b.fill("input[name=msg]", "lab canary");
    b.fill("input[name=selector]", "site=lab");
    b.fill("input[name=waves]", "1,2");
    b.fill("input[name=threshold]", "0");
    b.click("#new-rollout button[type=submit]");
    b.wait_text(&["lab canary", "running", "Pause", "Abort"], 10);
    b.script("window.__same_page = 'yes'; return 1;");
    // the device's poll: its pending (NEW) step
    let pending = |d: &Dev| {
        let steps = d.call("GET", &format!("/trails/{}/steps", d.id), None);
        steps
            .as_array()
            .unwrap()
            .first()
            .map(|s| s["rev"].as_i64().unwrap())
    };
    let first = &lab[0];
    let rev = pending(first).expect("wave 1 posted the rollout's step to the first lab device");
    assert_eq!(rev, 1);
    assert_eq!(pending(&lab[1]), None, "wave 2 waits");
    first.progress(
        rev,
        json!({"status": "ERROR", "progress": 100, "status-msg": "Update failed",
                                "logs": "app failed"}),
    );
    let t = b.wait_text(&["paused", "wave 1: 1 of 1 devices failed", "Resume"], 15);
    assert!(t.contains("pending"), "{t}");
    let wave_status = "return [...document.querySelectorAll('tr.wave td:last-child')]\
        .map(td => td.innerText.trim()).join()";
    assert_eq!(b.script(wave_status), "failed,pending");
    assert_eq!(b.script("return window.__same_page || 'reloaded'"), "yes");
    b.shot("rollout-paused");
    b.click("#rollout-resume");
    b.wait_text(&["running", "Pause"], 10);
    let deadline = Instant::now() + Duration::from_secs(10);
    while pending(&lab[1]) != Some(1) {
        assert!(Instant::now() < deadline, "wave 2 never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    lab[1].progress(
        1,
        json!({"status": "DONE", "progress": 100, "status-msg": "Update finished"}),
    );
    b.click("#rollout-abort");
    let t = b.wait_text(&["aborted", "aborted by the owner"], 10);
    assert!(!t.contains("Resume") && !t.contains("Pause"), "{t}");
    b.shot("rollout-aborted");
    assert_eq!(
        lab[2].call(
            "GET",
            &format!("/trails/{}/steps/1/progress", lab[2].id),
            None
        )["status"],
        "CANCEL"
    );
    b.click("a[href='/ui/rollouts']");
    b.wait_text(&["lab canary", "aborted"], 10);
    b.shot("rollouts");

    // a rollout of an uploaded pvr export to one device
    let blob = b"a new app from an export".to_vec();
    let blob_sha = hex::encode(sha2::Sha256::digest(&blob));
    let export_state = json!({"#spec": SYS, "app2/root.squashfs": blob_sha,
                              "app2/run.json": {"name": "app2", "type": "lxc"}});
    let export = d.path().join("app2.tar");
    {
        let mut ar = tar::Builder::new(std::fs::File::create(&export).unwrap());
        for (name, data) in [
            ("json".to_string(), export_state.to_string().into_bytes()),
            (format!("objects/{blob_sha}"), blob.clone()),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            ar.append_data(&mut h, name, data.as_slice()).unwrap();
        }
        ar.finish().unwrap();
    }
    b.type_into("#export-file", export.to_str().unwrap());
    b.fill("input[name=msg]", "from an export");
    b.fill("input[name=devices]", &lab[2].id);
    b.click("#new-rollout button[type=submit]");
    b.wait_text(&["from an export", "running"], 15);
    b.shot("rollout-from-export");
    let rev = pending(&lab[2]).expect("the export's rollout posted a step");
    let st = lab[2].call(
        "GET",
        &format!("/trails/{}/steps/{rev}/state", lab[2].id),
        None,
    );
    assert_eq!(st, export_state);
    let obj = lab[2].call("GET", &format!("/objects/{blob_sha}"), None);
    assert_eq!(obj["size"], blob.len().to_string(), "{obj}");

    // bob sees his device only, and none of alice's pages
    b.click("header form.logout button");
    b.wait_text(&["Log in"], 10);
    login(&b, &base, "bob");
    let t = b.wait_text(&["1 device"], 10);
    assert_eq!(
        b.script("return document.querySelector('ul.counts li').innerText"),
        "1 device"
    );
    assert!(!t.contains(joined_nick.as_str().unwrap()), "{t}");
    b.shot("fleet-other-user");
    for path in ["", "/logs", "/revs/0", "/steps", "/logs/rows?after=0"] {
        b.goto(&format!("{base}/ui/devices/{}{path}", dev.id));
        let t = b.wait_text(&["No such device"], 10);
        assert!(
            !t.contains("app started") && !t.contains("rev 0"),
            "{path}: {t}"
        );
    }
    b.shot("other-users-device");
    let _ = bobs.prn;
}
