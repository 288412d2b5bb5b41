//! The checks of LOCAL_RUN before anything changes (spec §4.4): a revision
//! that fails one is WONTGO with the original's message, and the device,
//! its boot env and its containers are left as they were.

use serde_json::json;

use super::rig::{Rev, Rig};
use crate::device::{Command, CommandError, Device};
use crate::update::msg;

fn running() -> (Rig, Device) {
    let rig = Rig::with_factory(&Rev::default());
    let mut dev = rig.boot();
    rig.ticks(&mut dev, 3);
    (rig, dev)
}

fn local_run(dev: &mut Device, rev: &str) -> Result<(), CommandError> {
    dev.command(Command::LocalRun {
        rev: rev.into(),
        commit: false,
    })
}

/// Nothing changed: revision 0 runs, no try, no new container.
fn unchanged(rig: &Rig, dev: &mut Device) {
    assert_eq!(dev.rev, "0");
    assert!(dev.update.is_none());
    assert_eq!(rig.env().state().unwrap().pv_try, None);
    rig.ticks(dev, 2);
    assert_eq!(rig.sys.launches("app"), 1);
}

/// LOCAL_RUN of `locals/u` is refused with WONTGO `message`.
fn wontgo(rig: &Rig, dev: &mut Device, message: &str) {
    match local_run(dev, "locals/u") {
        Err(CommandError::Refused(m)) => assert!(m.starts_with(message), "{m}"),
        other => panic!("expected WONTGO {message}, got {other:?}"),
    }
    assert_eq!(rig.progress("locals/u"), ("WONTGO".into(), message.into()));
    unchanged(rig, dev);
}

#[test]
fn a_revision_that_is_not_there_is_not_found() {
    let (rig, mut dev) = running();
    for rev in ["locals/none", "7", "../0", "locals/a/b"] {
        assert_eq!(
            local_run(&mut dev, rev),
            Err(CommandError::NotFound(rev.into()))
        );
    }
    assert_eq!(
        local_run(&mut dev, "0"),
        Err(CommandError::Refused(
            "revision 0 is already running".into()
        ))
    );
    unchanged(&rig, &mut dev);
}

#[test]
fn a_step_without_its_state_json_will_not_go() {
    let (rig, mut dev) = running();
    std::fs::create_dir_all(rig.layout().trail("locals/u").join(".pv")).unwrap();
    wontgo(&rig, &mut dev, msg::NOT_FOUND);
}

#[test]
fn a_state_with_a_bad_format_will_not_go() {
    let states: Vec<Vec<u8>> = vec![
        b"{not json".to_vec(),
        b"[1,2]".to_vec(),
        // a run.json naming a file the state lacks
        serde_json::to_vec(&json!({
            "#spec": "pantavisor-service-system@1",
            "app/run.json": {"config": "lxc.container.conf", "root-volume": "root.squashfs"}
        }))
        .unwrap(),
    ];
    for text in states {
        let (rig, mut dev) = running();
        rig.stage_text("locals/u", &text);
        wontgo(&rig, &mut dev, msg::BAD_FORMAT);
    }
    // valid, but its containers name a group that does not exist
    let (rig, mut dev) = running();
    let mut rev = Rev::default();
    rev.ctrs[1].group = "nowhere";
    rig.stage("locals/u", &rev);
    wontgo(&rig, &mut dev, msg::BAD_FORMAT);
}

#[test]
fn unsigned_or_badly_signed_states_will_not_go_when_signatures_are_required() {
    let rig = Rig::new("PV_SECUREBOOT_MODE=strict\n");
    // the running revision was accepted under another mode
    rig.install("0", &Rev::default());
    rig.env().commit("0").unwrap();
    let text = Rev::default().with_image("app", "v2").text(&rig.pool());
    let mut dev = Device::boot_on(&rig.opts, std::sync::Arc::new(rig.sys.clone())).unwrap();
    assert!(dev.engine.is_none(), "revision 0 is not signed either");
    rig.stage_text("locals/u", &text);
    let r = local_run(&mut dev, "locals/u");
    assert!(matches!(r, Err(CommandError::Refused(_))), "{r:?}");
    assert_eq!(
        rig.progress("locals/u"),
        (
            "WONTGO".into(),
            "State not fully covered by signatures".into()
        )
    );
    // a signature that cannot be read
    let mut v: serde_json::Value = serde_json::from_slice(&text).unwrap();
    v["_sigs/app.json"] = json!({"#spec": "pvs@2", "protected": "!!", "signature": "??"});
    rig.stage_text("locals/u", &serde_json::to_vec(&v).unwrap());
    assert!(local_run(&mut dev, "locals/u").is_err());
    assert_eq!(
        rig.progress("locals/u"),
        ("WONTGO".into(), "Signature validation failed".into())
    );
}

#[test]
fn a_state_whose_objects_are_missing_will_not_go() {
    let (rig, mut dev) = running();
    let text = Rev::default()
        .with("app/extra.squashfs", json!("e".repeat(64)))
        .text(&rig.pool());
    rig.stage_text("locals/u", &text);
    wontgo(&rig, &mut dev, msg::INTERNAL);
}

#[test]
fn without_space_even_after_gc_an_update_will_not_go() {
    let (rig, mut dev) = running();
    rig.install("5", &Rev::default().with_image("app", "v5"));
    rig.stage("locals/u", &Rev::default().with_image("app", "v2"));
    rig.sys.set_free_bytes(1000);
    let text_len = std::fs::read(rig.layout().trail("locals/u").join(".pvr/json"))
        .unwrap()
        .len() as u64;
    let need = text_len * 2 + (1 << 20);
    wontgo(
        &rig,
        &mut dev,
        &format!("Space required {need} B, available 1000 B"),
    );
    // the collector ran first: the stale revision is gone, the step stays
    assert!(!rig.layout().trail("5").exists());
    assert!(rig.layout().trail("locals/u").join(".pvr/json").exists());
    // with space, the same step goes
    rig.sys.set_free_bytes(1 << 30);
    local_run(&mut dev, "locals/u").unwrap();
    assert_eq!(
        rig.progress("locals/u"),
        ("INPROGRESS".into(), msg::TRYING.into())
    );
}

#[test]
fn one_update_at_a_time() {
    let (rig, mut dev) = running();
    rig.stage("locals/u", &Rev::default().with_image("app", "v2"));
    rig.stage("locals/v", &Rev::default().with_image("app", "v3"));
    local_run(&mut dev, "locals/u").unwrap();
    assert_eq!(local_run(&mut dev, "locals/v"), Err(CommandError::Busy));
    assert_eq!(dev.command(Command::Reboot), Err(CommandError::Busy));
    assert_eq!(dev.command(Command::Poweroff), Err(CommandError::Busy));
    assert_eq!(rig.progress("locals/v").0, "NEW");
}
