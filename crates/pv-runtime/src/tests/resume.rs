//! Resume at boot (spec §4.7): what a boot does with the boot env's try and
//! the progress on disk, one test per row of the table.

use super::rig::{Rev, Rig};
use crate::daemon::EXIT_REBOOT;
use crate::progress;
use crate::update::{msg, Kind};

/// Revision 0 committed and running, revision 1 installed as the try, the
/// boot env as after `LOCAL_RUN` of a reboot update.
fn tried(progress_status: &str, progress_msg: &str) -> Rig {
    let rig = Rig::with_factory(&Rev::default());
    rig.install("1", &Rev::default().with_image("sys", "v2"));
    rig.set_progress("1", progress_status, progress_msg);
    rig.env().install("1").unwrap();
    rig
}

/// The bootloader already attempted the try once: the next boot falls back.
fn attempted(rig: &Rig) {
    assert_eq!(rig.env().boot().unwrap(), "1");
}

#[test]
fn no_try_boots_the_committed_revision_as_it_is() {
    // row: no pv_try, booted revision is not 0
    let rig = Rig::with_factory(&Rev::default());
    rig.install("1", &Rev::default());
    rig.set_progress("1", "DONE", msg::DONE);
    rig.env().commit("1").unwrap();
    let mut dev = rig.boot();
    assert_eq!(dev.rev, "1");
    assert!(dev.update.is_none());
    rig.ticks(&mut dev, 3);
    assert_eq!(rig.progress("1"), ("DONE".into(), msg::DONE.into()));
    assert_eq!(rig.sys.launches("sys"), 1);
    assert_eq!(rig.sys.launches("app"), 1);
}

#[test]
fn factory_revision_is_marked_done_on_its_first_boot() {
    // row: no pv_try, booted revision is 0 without a final progress
    let rig = Rig::new("");
    rig.install("0", &Rev::default());
    rig.env().commit("0").unwrap();
    let mut dev = rig.boot();
    assert!(dev.update.is_none());
    assert_eq!(rig.progress("0"), ("DONE".into(), msg::FACTORY.into()));
    assert!(progress::is_done(&rig.layout(), "0"));
    rig.ticks(&mut dev, 2);
    // and a second boot leaves it alone
    dev.shutdown(EXIT_REBOOT);
    rig.set_progress("0", "DONE", "kept");
    let _dev = rig.boot();
    assert_eq!(rig.progress("0"), ("DONE".into(), "kept".into()));
}

#[test]
fn a_try_that_failed_on_its_own_boot_reboots_into_the_rollback_point() {
    // row: pv_try set, trying, progress failed
    let rig = tried("ERROR", msg::CONTAINER_FAILED);
    let mut dev = rig.boot();
    assert_eq!(dev.rev, "1");
    assert_eq!(dev.tick(), Some(EXIT_REBOOT));
    // the env is not edited: the bootloader falls back by itself
    assert_eq!(rig.env().state().unwrap().pv_try.as_deref(), Some("1"));
    assert_eq!(rig.sys.launches("sys"), 0, "nothing starts");
    dev.shutdown(EXIT_REBOOT);
    // the next boot is the rolled-back one: it clears the try
    let dev = rig.boot();
    assert_eq!(dev.rev, "0");
    assert_eq!(rig.env().state().unwrap().pv_try, None);
    assert_eq!(
        rig.progress("1"),
        ("ERROR".into(), msg::CONTAINER_FAILED.into())
    );
}

#[test]
fn a_rolled_back_boot_clears_a_failed_try() {
    // row: pv_try set, progress failed, not trying
    for status in ["ERROR", "WONTGO"] {
        let rig = tried(status, "why");
        attempted(&rig);
        let mut dev = rig.boot();
        assert_eq!(dev.rev, "0");
        assert_eq!(rig.env().state().unwrap().pv_try, None);
        assert_eq!(rig.progress("1"), (status.into(), "why".into()));
        rig.ticks(&mut dev, 2);
    }
}

#[test]
fn a_try_already_done_is_only_finished() {
    // row: pv_try set, progress DONE
    let rig = tried("DONE", msg::DONE);
    let mut dev = rig.boot();
    assert!(dev.update.is_none());
    assert_eq!(rig.env().state().unwrap().pv_try, None);
    assert_eq!(rig.progress("1"), ("DONE".into(), msg::DONE.into()));
    rig.ticks(&mut dev, 2);
}

#[test]
fn an_unfinished_try_found_on_the_rollback_boot_is_an_unexpected_rollback() {
    // row: pv_try set, not trying, progress not final
    for status in ["INPROGRESS", "TESTING", "UPDATED"] {
        let rig = tried(status, "anything");
        attempted(&rig);
        let dev = rig.boot();
        assert_eq!(dev.rev, "0");
        // UPDATED too: the boot that was to commit it did not finish
        assert_eq!(
            rig.progress("1"),
            ("ERROR".into(), msg::UNEXPECTED_ROLLBACK.into()),
            "{status}"
        );
        assert_eq!(rig.env().state().unwrap().pv_try, None);
    }
}

#[test]
fn a_try_booted_for_the_first_time_is_tested_and_committed() {
    // row: pv_try set, trying, progress not final (UPDATED included)
    for status in ["INPROGRESS", "UPDATED"] {
        let rig = tried(status, "before");
        let mut dev = rig.boot();
        assert_eq!(dev.rev, "1");
        let u = dev.update.as_ref().expect("an update under test");
        assert_eq!((u.rev.as_str(), u.kind), ("1", Kind::Reboot));
        assert_eq!(rig.progress("1"), ("INPROGRESS".into(), msg::TRYING.into()));
        rig.ticks(&mut dev, 4);
        assert!(dev.update.is_none(), "{status}: {dev:?}");
        assert_eq!(rig.progress("1"), ("DONE".into(), msg::DONE.into()));
        let st = rig.env().state().unwrap();
        assert_eq!(st.committed(), "1");
        assert_eq!(st.pv_try, None);
        assert!(progress::is_done(&rig.layout(), "1"));
    }
}
