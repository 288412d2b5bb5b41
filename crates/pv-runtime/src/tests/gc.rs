//! What the garbage collector keeps (spec §10): the running revision, the
//! committed one, the try, the update under test, the factory when
//! configured; everything else goes, with its logs, revision disks and the
//! objects only it referenced.

use std::collections::BTreeSet;

use super::rig::{Rev, Rig};
use crate::device::Command;
use crate::gc;

fn installed(rig: &Rig) -> BTreeSet<String> {
    gc::revisions(&rig.layout()).into_iter().collect()
}

fn set(revs: &[&str]) -> BTreeSet<String> {
    revs.iter().map(|s| s.to_string()).collect()
}

/// Revisions 0 (factory), 1 (committed), 2 (running the try of a
/// non-reboot update), 3 and locals/old (stale).
fn storage(config: &str) -> Rig {
    let rig = Rig::new(config);
    rig.install("0", &Rev::default());
    for (r, img) in [("1", "v1"), ("2", "v2"), ("3", "v3"), ("locals/old", "v4")] {
        rig.install(r, &Rev::default().with_image("app", img));
    }
    rig.set_progress("0", "DONE", "");
    rig.set_progress("1", "DONE", "");
    rig.env().commit("1").unwrap();
    for r in ["3", "locals/old"] {
        std::fs::create_dir_all(rig.layout().logs().join(r).join("pantavisor")).unwrap();
        std::fs::create_dir_all(rig.layout().disks().join("rev").join(r).join("app")).unwrap();
    }
    rig
}

#[test]
fn gc_keeps_the_running_committed_and_tried_revisions() {
    for keep_factory in [false, true] {
        let rig = storage(&format!(
            "PV_STORAGE_GC_KEEP_FACTORY={}\n",
            u8::from(keep_factory)
        ));
        let mut dev = rig.boot();
        assert_eq!(dev.rev, "1");
        rig.stage("locals/u", &Rev::default().with_image("app", "v5"));
        dev.command(Command::LocalRun {
            rev: "locals/u".into(),
            commit: false,
        })
        .unwrap();
        let mut keep = set(&["1", "locals/u"]);
        if keep_factory {
            keep.insert("0".into());
        }
        assert_eq!(dev.gc_keep(), keep);
        let objects_before = rig.pool().list().unwrap().len();
        dev.command(Command::RunGc).unwrap();
        assert_eq!(installed(&rig), keep);
        for r in ["3", "locals/old"] {
            assert!(!rig.layout().logs().join(r).exists(), "logs of {r}");
            assert!(
                !rig.layout().disks().join("rev").join(r).exists(),
                "disk of {r}"
            );
        }
        // every object of a kept revision stays, the others went
        let left: BTreeSet<_> = rig.pool().list().unwrap().into_iter().collect();
        let needed = gc::referenced(&rig.layout(), &keep);
        assert_eq!(left, needed);
        assert!(left.len() < objects_before);
        for r in &keep {
            crate::verify::check_objects(
                &rig.layout(),
                r,
                &crate::trail::read_state(&rig.layout(), r).unwrap().1,
            )
            .unwrap_or_else(|e| panic!("{r}: {e}"));
        }
    }
}

#[test]
fn gc_keeps_a_pending_try_that_is_not_running() {
    let rig = storage("");
    rig.env().install("2").unwrap();
    // the bootloader attempted 2 already: this boot is the rollback one,
    // which clears the try before anything could collect it
    rig.env().boot().unwrap();
    rig.set_progress("2", "INPROGRESS", "");
    let dev = rig.boot();
    assert_eq!(dev.rev, "1");
    assert_eq!(dev.gc_keep(), set(&["1"]));
    // a try set by hand (an install that was not followed by a reboot yet)
    rig.env().install("3").unwrap();
    assert_eq!(dev.gc_keep(), set(&["1", "3"]));
}
