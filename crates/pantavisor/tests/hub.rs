//! Devices on a real hub (issue 12, device side): `pantahub serve` on a
//! fresh data dir and `pantavisor` appengine devices with real containers,
//! talking through a byte-counting TCP relay (which can also cut them off).
//!
//! Short form (every run of `cargo test -p pantavisor --test hub`, so CI):
//! a device with a join token registers, syncs rev 0, publishes its
//! device-meta, receives user-meta, pushes its containers' logs and takes
//! a `pvr post`ed app update to UPDATED (every status in order, the
//! untouched container not restarted, only the changed objects
//! downloaded); an unclaimed device shows its challenge, is claimed, a
//! broken revision posted to it rolls back and is reported ERROR, and so
//! does a sound one whose hub fails requests (503) while it is tested
//! ("Hub communication not stable", reported once the hub is back).
//! Long form (`bash scripts/hub-e2e-long.sh`, the ignored tests): a
//! download cut by the hub going away resumes at its byte; the runtime
//! killed while DOWNLOADING resumes too, with its retry counted (killed
//! twice with `PV_REVISION_RETRIES=3`: WONTGO); a staged rollout over 3
//! devices pauses itself when its second wave fails.

mod device;
#[path = "hub/kit.rs"]
mod kit;
#[path = "hub/long.rs"]
mod long;

use std::sync::atomic::Ordering;

use device::{can_run, start_with_cmdline, wait, App};
use kit::*;
use serde_json::json;

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
    // (a commit delay, so that the broken container fails in TESTING, and
    // that TESTING lasts while the hub is made to fail)
    let dev = hub_device(
        d.path(),
        &relay,
        None,
        &[App::new("base", "app", &script)],
        20,
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

    // 5. a sound revision, but the hub fails every request (503) once it
    // is tested: rolled back at once, ERROR "Hub communication not
    // stable" reported when the hub is back
    post_app(
        d.path(),
        &hub,
        &id,
        "steady",
        &strs(&sleeping("steady")),
        None,
        // (the hub's latest revision is the broken one)
        |co| std::fs::remove_dir_all(co.join("broken")).unwrap(),
    );
    assert!(
        wait(60, || relay.reported_at("2", "TESTING").is_some()),
        "{:?}",
        relay.reported("2")
    );
    relay.set_failing(true);
    let mut dev = dev;
    let code = dev.wait_exit(30);
    assert!(code.is_some(), "the failed update reboots");
    assert!(dev.log_count("Hub communication not stable") >= 1);
    relay.set_failing(false);
    let dev = start_with_cmdline(d.path(), None, &hub_cmdline(&relay, None));
    let (seen, last) = watch_step(&hub, &id, 2, 60);
    assert_eq!(last["status"], "ERROR", "{seen:?} {last}");
    assert_eq!(last["status-msg"], "Hub communication not stable", "{last}");
    assert_eq!(
        relay.reported("2"),
        ["QUEUED", "DOWNLOADING", "INPROGRESS", "TESTING", "ERROR"]
    );
    assert!(dev.wait_log("revision 0: status READY", 30));
    assert!(wait(15, || meta("pantavisor.revision") == "0"));
    dev.stop();
}
