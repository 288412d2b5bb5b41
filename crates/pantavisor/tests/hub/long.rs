//! The long form (`bash scripts/hub-e2e-long.sh`): cut downloads, the
//! runtime killed while DOWNLOADING, a staged rollout.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::device::{self, can_run, start_with_cmdline, wait, App, Device};
use crate::kit::*;
use serde_json::{json, Value};

#[test]
#[ignore = "long form: bash scripts/hub-e2e-long.sh"]
fn cut_download_resumes_at_its_byte() {
    if !can_run() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let Joined {
        hub,
        relay,
        dev,
        id,
        tok: _,
    } = joined(d.path());

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

#[test]
#[ignore = "long form: bash scripts/hub-e2e-long.sh"]
fn runtime_killed_while_downloading_resumes_with_its_retry_counted() {
    if !can_run() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let Joined {
        hub,
        relay,
        dev,
        id,
        tok,
    } = joined(d.path());

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
    let Joined {
        hub,
        relay,
        dev,
        id,
        tok,
    } = joined(d.path());
    // read by the runtimes started after the kills
    let conf = d.path().join("pantavisor.config");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, format!("{text}PV_REVISION_RETRIES=3\n")).unwrap();

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

/// A hub, a relay in front of it, and a device joined with a token that
/// runs the app `base`, its rev 0 DONE on the hub.
struct Joined {
    hub: Hub,
    relay: Relay,
    dev: Device,
    id: String,
    tok: String,
}

fn joined(d: &Path) -> Joined {
    let hub = Hub::start(d);
    let relay = Relay::start(hub.url.rsplit(':').next().unwrap().parse().unwrap());
    let script = sleeper("base");
    let tok = hub.join_token();
    let dev = hub_device(
        d,
        &relay,
        Some(&tok),
        &[App::new("base", "app", &script)],
        0,
    );
    let id = device_id(&dev);
    assert!(wait(30, || hub.step(&id, 0)["progress"]["status"] == "DONE"));
    Joined {
        hub,
        relay,
        dev,
        id,
        tok,
    }
}
