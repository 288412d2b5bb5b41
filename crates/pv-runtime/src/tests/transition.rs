//! Reboot or not (spec §4.5) as LOCAL_RUN applies it, and the way each
//! kind ends (§4.8): UPDATED in RAM, or DONE as the rollback point after
//! the reboot.

use serde_json::json;

use super::rig::{Ctr, Rev, Rig};
use crate::daemon::EXIT_REBOOT;
use crate::device::Command;
use crate::system::fake::Call;
use crate::update::{msg, Kind};

fn local_run(rig: &Rig, dev: &mut crate::device::Device, rev: &str, commit: bool) {
    let _ = rig;
    dev.command(Command::LocalRun {
        rev: rev.into(),
        commit,
    })
    .unwrap_or_else(|e| panic!("LOCAL_RUN {rev}: {e}"));
}

/// A device running revision 0, after its containers started.
fn running() -> (Rig, crate::device::Device) {
    let rig = Rig::with_factory(&Rev::default());
    let mut dev = rig.boot();
    rig.ticks(&mut dev, 3);
    (rig, dev)
}

/// LOCAL_RUN of `pending`: true if the device reboots for it.
fn reboots_for(pending: Rev, commit: bool) -> bool {
    let (rig, mut dev) = running();
    rig.stage("locals/u", &pending);
    local_run(&rig, &mut dev, "locals/u", commit);
    assert_eq!(
        rig.env().state().unwrap().pv_try.as_deref(),
        Some("locals/u")
    );
    match dev.tick() {
        Some(code) => {
            assert_eq!(code, EXIT_REBOOT);
            assert_eq!(
                rig.progress("locals/u"),
                ("INPROGRESS".into(), msg::REBOOTING.into())
            );
            true
        }
        None => false,
    }
}

#[test]
fn what_changes_decides_the_kind_of_transition() {
    let base = Rev::default;
    // a container-policy container: in place
    assert!(!reboots_for(base().with_image("app", "v2"), false));
    assert!(!reboots_for(
        base().with_file("_config/app/etc/motd", "x"),
        false
    ));
    // tooling files change nothing
    assert!(!reboots_for(
        base().with("app/src.json", json!({"x": 1})),
        false
    ));
    // a system-policy container, the BSP, device-wide files: reboot
    assert!(reboots_for(base().with_image("sys", "v2"), false));
    assert!(reboots_for(
        base().with("bsp/run.json", json!({"addons": []})),
        false
    ));
    assert!(reboots_for(base().with("groups.json", json!([])), false));
    assert!(reboots_for(
        Rev {
            group_timeout: 31,
            ..base()
        },
        false
    ));
    assert!(reboots_for(
        base().with_file("_config/nobody/x", "y"),
        false
    ));
    // LOCAL_RUN_COMMIT always reboots
    assert!(reboots_for(base().with_image("app", "v2"), true));
}

#[test]
fn a_non_reboot_update_restarts_only_what_changed_and_ends_updated() {
    let (rig, mut dev) = running();
    let sys_pid = rig.sys.running("sys").unwrap();
    let app_pid = rig.sys.running("app").unwrap();
    let mut pending = Rev::default().with_image("app", "v2");
    pending.ctrs.push(Ctr::new("extra", "app"));
    rig.stage("locals/u", &pending);
    rig.sys.take_calls();
    local_run(&rig, &mut dev, "locals/u", false);
    assert_eq!(
        rig.progress("locals/u"),
        ("INPROGRESS".into(), msg::TRYING.into())
    );
    assert_eq!(dev.rev, "locals/u");
    assert_eq!(dev.update.as_ref().unwrap().kind, Kind::NonReboot);
    // the changed container starts and reaches its goal: tested at once
    rig.ticks(&mut dev, 1);
    assert_eq!(
        rig.progress("locals/u"),
        ("TESTING".into(), msg::TESTING_NONREBOOT.into())
    );
    rig.ticks(&mut dev, 1);
    assert_eq!(
        rig.progress("locals/u"),
        ("UPDATED".into(), msg::UPDATED.into())
    );
    assert!(dev.update.is_none());
    // sys kept its init; app was stopped and started again; extra is new
    assert_eq!(rig.sys.running("sys"), Some(sys_pid));
    assert_ne!(rig.sys.running("app"), Some(app_pid));
    assert!(rig.sys.running("extra").is_some());
    let calls = rig.sys.calls();
    assert!(calls.contains(&Call::Signal {
        name: "app".into(),
        signal: nix::sys::signal::Signal::SIGTERM
    }));
    assert!(!calls
        .iter()
        .any(|c| matches!(c, Call::Signal { name, .. } if name == "sys")));
    // the boot env still tries it on the next boot; the rollback point stays
    let st = rig.env().state().unwrap();
    assert_eq!(st.pv_try.as_deref(), Some("locals/u"));
    assert_eq!(st.committed(), "0");
}

#[test]
fn a_removed_container_is_stopped_and_unmounted() {
    let (rig, mut dev) = running();
    let mut pending = Rev::default();
    pending.ctrs.retain(|c| c.name != "app");
    rig.stage("locals/u", &pending);
    local_run(&rig, &mut dev, "locals/u", false);
    rig.ticks(&mut dev, 4);
    assert_eq!(
        rig.progress("locals/u"),
        ("UPDATED".into(), msg::UPDATED.into())
    );
    assert_eq!(rig.sys.running("app"), None);
    let voldir = rig.layout().voldir.join("app");
    assert!(rig.sys.mounted().iter().all(|m| !m.starts_with(&voldir)));
}

#[test]
fn a_reboot_update_is_tried_on_the_next_boot_and_becomes_the_rollback_point() {
    let (rig, mut dev) = running();
    rig.stage("locals/u", &Rev::default().with_image("sys", "v2"));
    local_run(&rig, &mut dev, "locals/u", false);
    assert_eq!(dev.tick(), Some(EXIT_REBOOT));
    dev.shutdown(EXIT_REBOOT);
    assert!(
        rig.sys.running("sys").is_none(),
        "shutdown stops everything"
    );
    assert!(rig.sys.mounted().is_empty(), "and unmounts every volume");
    let mut dev = rig.boot();
    assert_eq!(dev.rev, "locals/u");
    // sys starts, then app (its group waits for sys's)
    rig.ticks(&mut dev, 2);
    assert_eq!(
        rig.progress("locals/u"),
        ("TESTING".into(), msg::TESTING_REBOOT.into())
    );
    rig.ticks(&mut dev, 1);
    assert_eq!(rig.progress("locals/u"), ("DONE".into(), msg::DONE.into()));
    let st = rig.env().state().unwrap();
    assert_eq!(st.committed(), "locals/u");
    assert_eq!(st.pv_try, None);
}

#[test]
fn the_commit_waits_for_containers_to_become_stable() {
    let (rig, mut dev) = running();
    let mut pending = Rev::default().with_image("app", "v2");
    pending.ctrs[1].auto_recovery = Some(json!({"policy": "on-failure", "stable_timeout": 3600}));
    rig.stage("locals/u", &pending);
    local_run(&rig, &mut dev, "locals/u", false);
    rig.ticks(&mut dev, 6);
    assert_eq!(
        rig.progress("locals/u"),
        ("TESTING".into(), msg::WAITING_STABLE.into())
    );
    assert!(dev.update.is_some());
    // a container stopped by the user does not hold the commit
    dev.engine
        .as_mut()
        .unwrap()
        .container_action("app", crate::engine::Action::Stop)
        .unwrap();
    rig.ticks(&mut dev, 3);
    assert_eq!(
        rig.progress("locals/u"),
        ("UPDATED".into(), msg::UPDATED.into())
    );
}

#[test]
fn a_container_waiting_to_be_recovered_holds_the_commit() {
    let (rig, mut dev) = running();
    let mut pending = Rev::default().with_image("app", "v2");
    // it exits once it has started and is restarted only much later
    pending.ctrs[1].auto_recovery = Some(json!({
        "policy": "on-failure", "max_retries": 3, "retry_delay": 3600, "stable_timeout": 1
    }));
    rig.stage("locals/u", &pending);
    local_run(&rig, &mut dev, "locals/u", false);
    rig.ticks(&mut dev, 3);
    assert!(rig.sys.exit("app", 1));
    // past the stable_timeout counted from its first start: a container
    // that is not running is not stable for all that
    std::thread::sleep(std::time::Duration::from_millis(1200));
    rig.ticks(&mut dev, 6);
    assert_eq!(
        rig.progress("locals/u"),
        ("TESTING".into(), msg::WAITING_STABLE.into())
    );
    assert!(dev.update.is_some());
}
