//! Every cause of a rollback and its progress message (spec §4.8-4.9),
//! for both kinds of update, and failures outside an update (§4.11).

use serde_json::json;

use super::rig::{Rev, Rig};
use crate::daemon::EXIT_REBOOT;
use crate::device::{Command, Device};
use crate::system::fake::{Call, Op};
use crate::update::{msg, Kind};

/// An update stays under test until a test ends it.
const TESTED_LONG: &str = "PV_UPDATER_COMMIT_DELAY=3600\n";

/// Revision 0 running; `pending` staged as `locals/u` and LOCAL_RUN; for a
/// reboot update, the device rebooted into it (the try's first boot).
fn updating(rig: &Rig, pending: &Rev) -> Device {
    updating_then(rig, pending, || {})
}

/// [`updating`], with `after_run` called right after LOCAL_RUN was accepted.
fn updating_then(rig: &Rig, pending: &Rev, after_run: impl Fn()) -> Device {
    let mut dev = rig.boot();
    rig.ticks(&mut dev, 3);
    rig.stage("locals/u", pending);
    dev.command(Command::LocalRun {
        rev: "locals/u".into(),
        commit: false,
    })
    .expect("LOCAL_RUN");
    after_run();
    if dev.update.is_none() {
        // a reboot update: it is tested on the next boot
        assert_eq!(dev.tick(), Some(EXIT_REBOOT));
        dev.shutdown(EXIT_REBOOT);
        dev = rig.boot();
        assert_eq!(dev.rev, "locals/u");
    }
    assert!(dev.update.is_some());
    dev
}

/// The update failed with `message`: ERROR, a reboot, then the rolled-back
/// boot runs revision 0 and the try is cleared.
fn rolled_back(rig: &Rig, mut dev: Device, message: &str) {
    let kind = dev.update.as_ref().expect("an update under test").kind;
    assert_eq!(rig.run(&mut dev, 10), Some(EXIT_REBOOT), "{dev:?}");
    assert_eq!(rig.progress("locals/u"), ("ERROR".into(), message.into()));
    // the try of a non-reboot update was never attempted: it is cleared
    // now (one reboot); a tried boot leaves the env to the bootloader
    let pv_try = rig.env().state().unwrap().pv_try;
    match kind {
        Kind::NonReboot => assert_eq!(pv_try, None),
        Kind::Reboot => assert_eq!(pv_try.as_deref(), Some("locals/u")),
    }
    dev.shutdown(EXIT_REBOOT);
    rig.sys.heal();
    let mut dev = rig.boot();
    assert_eq!(dev.rev, "0");
    assert_eq!(rig.env().state().unwrap().pv_try, None);
    assert_eq!(rig.env().state().unwrap().committed(), "0");
    assert_eq!(rig.progress("locals/u"), ("ERROR".into(), message.into()));
    rig.ticks(&mut dev, 3);
}

/// Both kinds: a change of `app` (non-reboot) and of `sys` too (reboot).
fn both_kinds(edit: impl Fn(Rev) -> Rev) -> [Rev; 2] {
    [
        edit(Rev::default().with_image("app", "v2")),
        edit(
            Rev::default()
                .with_image("app", "v2")
                .with_image("sys", "v2"),
        ),
    ]
}

#[test]
fn a_container_that_exits_while_tested_rolls_back() {
    for pending in both_kinds(|r| r) {
        let rig = Rig::with_factory_and(&Rev::default(), TESTED_LONG);
        let mut dev = updating(&rig, &pending);
        rig.ticks(&mut dev, 2);
        // goals reached: tested until the commit delay ends
        assert_eq!(rig.progress("locals/u").0, "TESTING");
        rig.ticks(&mut dev, 2);
        assert_eq!(rig.progress("locals/u").0, "TESTING");
        assert!(rig.sys.exit("app", 1));
        rolled_back(&rig, dev, msg::CONTAINER_FAILED);
    }
}

#[test]
fn a_container_that_cannot_mount_or_start_rolls_back() {
    for (op, subject) in [(Op::Mount, "/volumes/app/"), (Op::Launch, "app")] {
        for pending in both_kinds(|r| r) {
            let rig = Rig::with_factory_and(&Rev::default(), TESTED_LONG);
            let dev = updating_then(&rig, &pending, || rig.sys.fail(op, subject));
            rolled_back(&rig, dev, msg::CONTAINER_FAILED);
        }
    }
}

#[test]
fn exhausted_retries_while_tested_roll_back() {
    let ar = json!({"policy": "always", "max_retries": 1, "retry_delay": 0});
    for mut pending in both_kinds(|r| r) {
        pending.ctrs[1].auto_recovery = Some(ar.clone());
        let rig = Rig::with_factory_and(&Rev::default(), TESTED_LONG);
        let mut dev = updating(&rig, &pending);
        rig.ticks(&mut dev, 2);
        assert!(rig.sys.exit("app", 1));
        rig.ticks(&mut dev, 2);
        assert!(rig.sys.launches("app") >= 2, "restarted once");
        assert!(rig.sys.exit("app", 1));
        rolled_back(&rig, dev, msg::CONTAINER_FAILED);
    }
}

#[test]
fn a_status_goal_not_reached_in_time_rolls_back() {
    for mut pending in both_kinds(|r| r) {
        // READY needs a signal that never comes; the group gives it 0 s
        pending.ctrs[1].status_goal = Some("READY");
        pending.group_timeout = 0;
        let rig = Rig::with_factory_and(&Rev::default(), TESTED_LONG);
        let dev = updating(&rig, &pending);
        rolled_back(&rig, dev, msg::GOAL_NOT_REACHED);
    }
}

/// A reboot update whose trail is damaged before its first boot.
fn tried_then_damaged(config: &str, damage: impl Fn(&Rig)) -> (Rig, Device) {
    let rig = Rig::new(config);
    rig.install("0", &Rev::default());
    rig.env().commit("0").unwrap();
    rig.install("1", &Rev::default().with_image("sys", "v2"));
    rig.set_progress("1", "INPROGRESS", msg::REBOOTING);
    rig.env().install("1").unwrap();
    damage(&rig);
    let dev = rig.boot();
    assert_eq!(dev.rev, "1");
    (rig, dev)
}

#[test]
fn a_try_that_fails_its_checks_at_boot_rolls_back_with_their_message() {
    fn trail(rig: &Rig) -> std::path::PathBuf {
        rig.layout().trail("1")
    }
    type Damage = Box<dyn Fn(&Rig)>;
    let cases: Vec<(&str, Damage, &str)> = vec![
        (
            "",
            Box::new(|rig| {
                let img = trail(rig).join("sys/root.squashfs");
                std::fs::remove_file(&img).unwrap();
                std::fs::write(&img, "tampered").unwrap();
            }),
            msg::OBJECT_VALIDATION,
        ),
        (
            "",
            Box::new(|rig| std::fs::write(trail(rig).join(".pvr/json"), "{not json").unwrap()),
            msg::BAD_FORMAT,
        ),
        (
            "",
            Box::new(|rig| {
                let s = Rev::default()
                    .with_image("sys", "v2")
                    .with("app/run.json", json!({"group": "nowhere"}));
                std::fs::write(trail(rig).join(".pvr/json"), s.text(&rig.pool())).unwrap()
            }),
            msg::BAD_FORMAT,
        ),
        (
            "",
            Box::new(|rig| std::fs::remove_file(trail(rig).join(".pvr/json")).unwrap()),
            msg::NOT_FOUND,
        ),
        (
            "PV_SECUREBOOT_MODE=strict\n",
            Box::new(|_| {}),
            "State not fully covered by signatures",
        ),
        (
            "PV_SECUREBOOT_MODE=lenient\n",
            Box::new(|rig| {
                let s = Rev::default().with_image("sys", "v2").with(
                    "_sigs/sys.json",
                    json!({"#spec": "pvs@2", "protected": "!!", "signature": "??"}),
                );
                std::fs::write(trail(rig).join(".pvr/json"), s.text(&rig.pool())).unwrap()
            }),
            "Signature validation failed",
        ),
    ];
    for (config, damage, message) in cases {
        let (rig, mut dev) = tried_then_damaged(config, damage);
        assert!(dev.engine.is_none(), "{message}: nothing runs");
        assert_eq!(dev.tick(), Some(EXIT_REBOOT), "{message}");
        assert_eq!(rig.progress("1"), ("ERROR".into(), message.into()));
        assert_eq!(rig.sys.launches("sys"), 0);
        dev.shutdown(EXIT_REBOOT);
        let dev = rig.boot();
        assert_eq!(dev.rev, "0", "{message}");
        assert_eq!(rig.env().state().unwrap().pv_try, None);
    }
}

#[test]
fn outside_an_update_a_failed_container_reboots_into_the_same_revision() {
    let rig = Rig::with_factory_and(&Rev::default(), TESTED_LONG);
    let mut dev = rig.boot();
    rig.ticks(&mut dev, 3);
    assert!(rig.sys.exit("sys", 2));
    assert_eq!(dev.tick(), Some(EXIT_REBOOT));
    assert_eq!(rig.progress("0"), ("DONE".into(), msg::FACTORY.into()));
    dev.shutdown(EXIT_REBOOT);
    assert_eq!(rig.boot().rev, "0");
}

#[test]
fn outside_an_update_a_goal_timeout_only_unblocks_the_next_group() {
    let mut rev = Rev::default();
    rev.ctrs[0].status_goal = Some("READY");
    rev.group_timeout = 0;
    let rig = Rig::with_factory(&rev);
    let mut dev = rig.boot();
    rig.ticks(&mut dev, 5);
    assert!(rig.sys.running("app").is_some(), "the app group started");
    assert!(rig.sys.running("sys").is_some());
}

#[test]
fn a_factory_revision_that_cannot_run_has_nothing_to_roll_back_to() {
    // revision 0 cannot roll back: ERROR with the check's message, no
    // containers, and the runtime stays up (docs/compat.md)
    let rig = Rig::new("");
    let mut rev = Rev::default();
    rev.ctrs[1].group = "nowhere";
    rig.install("0", &Rev::default());
    let t = rig.layout().trail("0");
    std::fs::write(t.join(".pvr/json"), rev.text(&rig.pool())).unwrap();
    rig.env().commit("0").unwrap();
    let mut dev = rig.boot();
    assert!(dev.engine.is_none());
    assert_eq!(rig.progress("0"), ("ERROR".into(), msg::BAD_FORMAT.into()));
    assert_eq!(rig.run(&mut dev, 3), None);
    assert!(rig
        .sys
        .calls()
        .iter()
        .all(|c| matches!(c, Call::StopLeftovers(_))));
}
