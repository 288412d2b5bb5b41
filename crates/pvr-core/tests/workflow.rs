//! A user's session: edit, commit, look back, go back.

mod common;

use std::fs;

use common::Fixture;
use pvr_core::checkout::{checkout_revision, CheckoutOptions};
use pvr_core::progress::Progress;
use pvr_core::{commit, history, status, working};

#[test]
fn history_records_commits_and_checks_out_old_ones() {
    let f = Fixture::committed();
    let q = Progress::quiet();
    let first = fs::read(f.root().join(".pvr/json")).unwrap();
    fs::write(f.root().join("app/root.squashfs"), b"squash v2").unwrap();
    fs::write(f.root().join("notes.txt"), b"hello").unwrap();
    working::add(&f.repo, &["notes.txt".into()], false, &q).unwrap();
    let r = commit::commit(&f.repo, Some("second"), &mut std::io::sink(), &q).unwrap();
    assert_eq!(r.added, ["notes.txt"]);
    assert_eq!(r.changed, ["app/root.squashfs"]);

    let log = history::list(&f.repo).unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[1].message, "second");
    assert_eq!(log[1].parent, log[0].sha);
    assert_eq!(log[1].sha, r.state_sha);

    checkout_revision(&f.repo, "1", CheckoutOptions::default(), &q).unwrap();
    assert_eq!(fs::read(f.root().join(".pvr/json")).unwrap(), first);
    assert_eq!(
        fs::read(f.root().join("app/root.squashfs")).unwrap(),
        b"squash"
    );
    assert!(!f.root().join("notes.txt").exists());
    let pristine = f.repo.pristine().unwrap();
    let w = working::compute(&f.repo, &pristine, &f.repo.staged().unwrap(), &q).unwrap();
    assert!(status::status(&pristine, &w).is_empty());

    checkout_revision(&f.repo, &r.state_sha[..10], CheckoutOptions::default(), &q).unwrap();
    assert_eq!(fs::read(f.root().join("notes.txt")).unwrap(), b"hello");
    assert!(checkout_revision(&f.repo, "99", CheckoutOptions::default(), &q).is_err());
}

#[test]
fn commit_without_changes_keeps_state() {
    let f = Fixture::committed();
    let before = fs::read(f.root().join(".pvr/json")).unwrap();
    commit::commit(&f.repo, None, &mut std::io::sink(), &Progress::quiet()).unwrap();
    assert_eq!(fs::read(f.root().join(".pvr/json")).unwrap(), before);
    assert_eq!(f.repo.commit_message().unwrap(), commit::NO_MESSAGE);
}

#[test]
fn edits_after_add_are_detected_despite_the_stat_cache() {
    let f = Fixture::committed();
    let q = Progress::quiet();
    let p = f.root().join("app/root.squashfs");
    // same size, rewritten right away: must not be taken from the cache
    fs::write(&p, b"SQUASH").unwrap();
    let pristine = f.repo.pristine().unwrap();
    let w = working::compute(&f.repo, &pristine, &f.repo.staged().unwrap(), &q).unwrap();
    let st = status::status(&pristine, &w);
    assert_eq!(st.len(), 1, "{st:?}");
    assert_eq!(st[0].path, "app/root.squashfs");
}
