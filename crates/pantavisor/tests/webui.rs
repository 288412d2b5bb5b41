//! The device's web page in a real headless Chromium (chromedriver)
//! against a running device with the LAN endpoint and a token (needs
//! root, chromium and chromium-driver): log in, the device page, live
//! logs, user metadata, and an edit of the running revision (upload a
//! package, remove a part, commit and run, watch the progress), each
//! change checked on the device. Screenshots of every page go to
//! `target/tmp/webui/`.

mod device;

use std::path::Path;

use device::{can_run, checkout, start, wait, App};
use pv_testkit::webdriver::Browser;

const TOKEN: &str = "webui-test-token-0123456789";

/// A package carrying app `web`, made with pvr and exported.
fn web_package(d: &Path) -> std::path::PathBuf {
    let dir = d.join("pkg");
    std::fs::create_dir_all(&dir).unwrap();
    let script = "echo web-up; trap 'exit 0' TERM; while true; do sleep 1; done # marker-webui";
    let repo = checkout(&dir, &[App::new("web", "app", script)], |_| {});
    let r = pvr_core::Repo::open(&repo, &dir.join("pvr-config")).unwrap();
    let out = d.join("web.tgz");
    pvr_core::export::export(
        &r,
        &pvr_core::parts::Parts::parse(""),
        out.to_str().unwrap(),
    )
    .unwrap();
    out
}

/// The highest `tick N` in a text.
fn last_tick(text: &str) -> u32 {
    text.split("tick ")
        .skip(1)
        .filter_map(|t| t.split_whitespace().next()?.parse().ok())
        .max()
        .unwrap_or(0)
}

#[test]
fn web_page_in_a_headless_browser() {
    if !can_run() || !pv_testkit::require_tools(&["chromium", "chromedriver"]) {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let port = pv_testkit::free_port();
    std::fs::write(
        d.path().join("pantavisor.config"),
        format!(
            "PV_SECUREBOOT_MODE=disabled\nPV_LOG_LEVEL=4\nPV_UPDATER_COMMIT_DELAY=0\n\
             PV_LAN_PVR_LISTEN=127.0.0.1:{port}\nPV_LAN_PVR_TOKEN={TOKEN}\n"
        ),
    )
    .unwrap();
    let ticker = "trap 'exit 0' TERM; i=0; while true; do i=$((i+1)); echo tick $i; sleep 1; done # marker-webui";
    let old = "echo old-up; trap 'exit 0' TERM; while true; do sleep 1; done # marker-webui";
    let repo = checkout(
        d.path(),
        &[App::new("app", "app", ticker), App::new("old", "app", old)],
        |r| {
            let dev = serde_json::json!({"groups": [
                {"name": "app", "status_goal": "STARTED", "restart_policy": "container", "timeout": 10,
                 "auto_recovery": {"policy": "on-failure", "stable_timeout": 1}}
            ]});
            std::fs::write(r.join("device.json"), dev.to_string()).unwrap();
        },
    );
    let dev = start(d.path(), Some(&repo));
    assert!(dev.wait_log("status READY", 30));
    assert!(dev.wait_log("LAN endpoint for pvr listening", 10));
    let package = web_package(d.path());
    let base = format!("http://127.0.0.1:{port}");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("webui");
    let _ = std::fs::remove_dir_all(&out);
    // the token rule outside the browser: pages redirect to the login,
    // the log feed and the pvtx API answer 401; the login's cookie opens both
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &str, cookie: Option<&str>| {
        let mut r = http.get(format!("{base}{path}"));
        if let Some(c) = cookie {
            r = r.header("Cookie", c);
        }
        let resp = r.send().unwrap();
        let loc = resp
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string());
        (resp.status().as_u16(), loc)
    };
    assert_eq!(get("/ui/edit", None), (303, Some("/ui/login".into())));
    assert_eq!(get("/ui/logs/raw?c=app", None).0, 401);
    assert_eq!(get("/cgi-bin/pvtx/show", None).0, 401);
    let cookie = format!("pv_lan_token={TOKEN}");
    assert_eq!(get("/ui/logs/raw?c=app", Some(&cookie)).0, 200);
    assert_eq!(get("/ui/logs/raw?c=../../etc", Some(&cookie)).0, 404);
    assert_eq!(
        get(
            "/cgi-bin/pvtx/show",
            Some("pv_lan_token=wrong-token-0123456789")
        )
        .0,
        401
    );
    assert_eq!(
        get("/cgi-bin/pvtx/show", Some(&cookie)).0,
        400,
        "no transaction yet"
    );

    let mut b = Browser::start(&out);

    // the token rule: the page asks for the token first
    b.goto(&format!("{base}/"));
    b.wait_text(&["needs its token"], 10);
    assert!(b.url().ends_with("/ui/login"), "{}", b.url());
    b.type_into("#token", "not-the-token");
    b.click("#login");
    b.wait_text(&["That is not the token of this device."], 10);
    b.shot("login-refused");
    b.type_into("#token", TOKEN);
    b.click("#login");

    // the device page
    let t = b.wait_text(&["Revision 0", "Containers", "Device metadata", "DONE"], 10);
    assert!(t.contains("pantavisor.revision"), "{t}");
    for name in ["app", "old"] {
        assert!(
            t.lines()
                .any(|l| l.split_whitespace().take(3).eq([name, "app", "STARTED"])),
            "{t}"
        );
    }
    b.shot("device");

    // logs of a container, followed live; then the runtime's
    b.goto(&format!("{base}/ui/logs?c=app"));
    let t = b.wait_text(&["tick 1"], 10);
    let first = last_tick(&t);
    b.wait_text(&[&format!("tick {}", first + 2)], 15);
    b.shot("logs-app");
    b.goto(&format!("{base}/ui/logs?c=pantavisor"));
    b.wait_text(&["LAN endpoint"], 10);
    b.shot("logs-pantavisor");

    // user metadata: save, then delete
    b.goto(&format!("{base}/ui/usermeta"));
    b.wait_text(&["Set a key"], 10);
    b.type_into("#mkey", "greeting");
    b.type_into("#mval", "hello from the page");
    b.click("#save");
    b.wait_text(&["hello from the page"], 10);
    assert_eq!(
        dev.ctrl_json("/user-meta")["greeting"],
        "hello from the page"
    );
    b.shot("usermeta");
    b.click("button[data-key=\"greeting\"]");
    assert!(wait(10, || dev
        .ctrl_json("/user-meta")
        .get("greeting")
        .is_none()));
    assert!(wait(10, || !b.text().contains("hello from the page")));

    // edit the running revision: add a package, remove a part, commit and run
    b.goto(&format!("{base}/ui/edit"));
    b.wait_text(
        &["No transaction", "Parts of the running revision", "old"],
        10,
    );
    b.shot("edit");
    b.type_into("#pkg", package.to_str().unwrap());
    b.click("#add");
    b.wait_text(&["Transaction in progress", "web"], 30);
    b.click("button[data-part=\"old\"]");
    assert!(wait(10, || {
        let t = b.text();
        t.contains("Transaction in progress") && !t.lines().any(|l| l.starts_with("old"))
    }));
    b.shot("edit-transaction");
    b.click("#commit");
    b.wait_text(
        &["Progress of locals/pvtx-", "UPDATED", "Back to the device"],
        60,
    );
    b.shot("edit-progress");
    assert!(
        !b.text().contains("Transaction in progress"),
        "the committed transaction is hidden"
    );
    let names = dev.container_names();
    assert!(names.contains(&"web".to_string()), "{names:?}");
    assert!(!names.contains(&"old".to_string()), "{names:?}");
    let rev = dev.ctrl_json("/device-meta")["pantavisor.revision"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(rev.starts_with("locals/pvtx-"), "{rev}");

    b.goto(&format!("{base}/ui/edit"));
    b.wait_text(&["No transaction", "web"], 10);
    b.goto(&format!("{base}/"));
    b.wait_text(&[&format!("Revision {rev}"), "web", "UPDATED"], 10);
    b.shot("device-after");
    drop(b);
    assert_eq!(dev.stop(), 0);
}
