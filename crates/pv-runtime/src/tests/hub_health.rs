//! A remote update under test and the hub (spec §2.2, §4.8): a request to
//! the hub that fails during TESTING rolls the update back with "Hub
//! communication not stable"; the same failure earlier, or under a local
//! update, does not. The requests fail for real: the client's agent
//! program is not there (a call the agent cannot make is a communication
//! failure, like one to a hub nobody answers for).

use pv_hub_proto::{Endpoint, HubAgent};

use super::rig::{Rev, Rig};
use crate::daemon::EXIT_REBOOT;
use crate::device::{Command, Device};
use crate::hub::{remote_marker, HubLink, HUB_NOT_STABLE};
use crate::update::{msg, Kind, Phase};

/// An update stays under test until a test ends it.
const TESTED_LONG: &str = "PV_UPDATER_COMMIT_DELAY=3600\n";

/// A hub client whose every request fails: its agent does not exist.
fn unreachable_hub() -> HubAgent {
    let dir = std::env::temp_dir();
    HubAgent::new(
        dir.join("pv-hub-health-test-no-agent"),
        Endpoint {
            host: "http://127.0.0.1".into(),
            port: pv_testkit::free_port(),
            ca_file: None,
            proxy: None,
            user_agent: "hub-health-test".into(),
            timeout: std::time::Duration::from_secs(5),
        },
        dir,
    )
}

/// One request to `hub` that fails; the client counts it.
fn fail_one(hub: &HubAgent) {
    let before = hub.failures();
    assert!(hub.poll("device").is_err());
    assert_eq!(hub.failures(), before + 1);
}

/// Revision 0 running, `rev` (marked remote when `remote`) run as an
/// update; for a reboot update, the device rebooted into it. The device
/// talks to `hub` through a link with no thread.
fn updating(rig: &Rig, name: &str, pending: &Rev, remote: bool, hub: &HubAgent) -> Device {
    let mut dev = rig.boot();
    rig.ticks(&mut dev, 3);
    rig.stage(name, pending);
    if remote {
        let marker = remote_marker(&rig.layout(), name);
        std::fs::create_dir_all(marker.parent().unwrap()).unwrap();
        std::fs::write(&marker, b"").unwrap();
    }
    dev.command(Command::LocalRun {
        rev: name.into(),
        commit: false,
    })
    .expect("run");
    if dev.update.is_none() {
        assert_eq!(dev.tick(), Some(EXIT_REBOOT));
        dev.shutdown(EXIT_REBOOT);
        dev = rig.boot();
        assert_eq!(dev.rev, name);
    }
    assert!(dev.update.is_some());
    dev.hub = Some(HubLink::detached(hub.clone()));
    dev
}

fn testing(dev: &Device) -> bool {
    dev.update
        .as_ref()
        .is_some_and(|u| matches!(u.phase, Phase::Testing { .. }))
}

/// Both kinds: a change of `app` (non-reboot) and of `sys` too (reboot).
fn both_kinds() -> [Rev; 2] {
    [
        Rev::default().with_image("app", "v2"),
        Rev::default()
            .with_image("app", "v2")
            .with_image("sys", "v2"),
    ]
}

#[test]
fn a_failed_hub_request_while_tested_rolls_a_remote_update_back() {
    for pending in both_kinds() {
        let rig = Rig::with_factory_and(&Rev::default(), TESTED_LONG);
        let hub = unreachable_hub();
        let mut dev = updating(&rig, "1", &pending, true, &hub);
        let kind = dev.update.as_ref().unwrap().kind;
        rig.ticks(&mut dev, 3);
        assert!(testing(&dev), "{dev:?}");
        // the hub answered so far: tested on
        rig.ticks(&mut dev, 3);
        assert_eq!(rig.progress("1").0, "TESTING");
        fail_one(&hub);
        assert_eq!(rig.run(&mut dev, 3), Some(EXIT_REBOOT), "{dev:?}");
        assert_eq!(rig.progress("1"), ("ERROR".into(), HUB_NOT_STABLE.into()));
        let pv_try = rig.env().state().unwrap().pv_try;
        match kind {
            Kind::NonReboot => assert_eq!(pv_try, None),
            Kind::Reboot => assert_eq!(pv_try.as_deref(), Some("1")),
        }
        dev.shutdown(EXIT_REBOOT);
        let mut dev = rig.boot();
        assert_eq!(dev.rev, "0");
        assert_eq!(rig.env().state().unwrap().committed(), "0");
        assert_eq!(rig.env().state().unwrap().pv_try, None);
        rig.ticks(&mut dev, 3);
        assert_eq!(rig.progress("1"), ("ERROR".into(), HUB_NOT_STABLE.into()));
    }
}

#[test]
fn a_failed_hub_request_before_testing_is_left_to_the_network_timeout() {
    let mut pending = Rev::default().with_image("app", "v2");
    // INPROGRESS until a test says otherwise: a goal that needs a signal
    pending.ctrs[1].status_goal = Some("READY");
    pending.group_timeout = 3600;
    let rig = Rig::with_factory_and(&Rev::default(), "PV_UPDATER_COMMIT_DELAY=0\n");
    let hub = unreachable_hub();
    let mut dev = updating(&rig, "1", &pending, true, &hub);
    rig.ticks(&mut dev, 3);
    assert_eq!(rig.progress("1").0, "INPROGRESS");
    fail_one(&hub);
    rig.ticks(&mut dev, 3);
    assert_eq!(rig.progress("1").0, "INPROGRESS");
    // the goal reached: tested, and committed with no new failure
    assert!(dev.engine.as_mut().unwrap().signal_ready("app"));
    rig.ticks(&mut dev, 4);
    // (a reboot update: the groups of device.json changed)
    assert_eq!(rig.progress("1"), ("DONE".into(), msg::DONE.into()));
}

#[test]
fn a_local_update_is_not_rolled_back_for_the_hub() {
    let rig = Rig::with_factory_and(&Rev::default(), TESTED_LONG);
    let hub = unreachable_hub();
    let pending = Rev::default().with_image("app", "v2");
    let mut dev = updating(&rig, "locals/u", &pending, false, &hub);
    rig.ticks(&mut dev, 3);
    assert!(testing(&dev));
    fail_one(&hub);
    rig.ticks(&mut dev, 3);
    assert!(testing(&dev));
    assert_eq!(rig.progress("locals/u").0, "TESTING");
}
