//! States that checkout would refuse are refused by commit and deploy too,
//! before anything is written.

mod common;

use std::fs;
use std::path::Path;

use common::Fixture;
use pvr_core::progress::Progress;
use pvr_core::{commit, deploy};

fn q() -> Progress {
    Progress::quiet()
}

/// Every file under `dir`, as (relative path, bytes), sorted.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![];
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
            out.push((rel, fs::read(e.path()).unwrap()));
        }
    }
    out
}

fn edit_pristine(f: &Fixture, key: &str) {
    let p = f.root().join(".pvr/json");
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
    v[key] = serde_json::Value::String(pv_types::ObjectId::of(b"x").to_hex());
    fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
}

#[test]
fn commit_refuses_a_hand_edited_state_and_writes_nothing() {
    for key in ["../etc/x", "/abs", "a//b", ".pvr/config", "app/../../x"] {
        let f = Fixture::committed();
        edit_pristine(&f, key);
        // a new file that commit would store as an object
        fs::write(f.root().join("new.bin"), b"fresh bytes").unwrap();
        pvr_core::working::add(&f.repo, &["new.bin".into()], false, &q()).unwrap();
        let before = snapshot(f.dir.path());
        let e = commit::commit(&f.repo, Some("m"), &mut std::io::sink(), &q()).unwrap_err();
        assert!(
            e.to_string().contains(key.trim_start_matches('/')),
            "{key}: {e}"
        );
        assert_eq!(
            snapshot(f.dir.path()),
            before,
            "{key}: something was written"
        );
        assert!(!f
            .repo
            .objects
            .contains(&pv_types::ObjectId::of(b"fresh bytes")));
        // --checkpoint is refused before it writes checkpoint.json
        assert!(commit::write_checkpoint(&f.repo, &q()).is_err());
        assert!(!f.root().join("checkpoint.json").exists());
    }
}

#[test]
fn commit_refuses_a_key_under_a_symlinked_directory() {
    let f = Fixture::committed();
    let outside = f.path("outside");
    fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, f.root().join("link")).unwrap();
    edit_pristine(&f, "link/x");
    let before = snapshot(f.dir.path());
    let e = commit::commit(&f.repo, None, &mut std::io::sink(), &q()).unwrap_err();
    assert!(e.to_string().contains("link"), "{e}");
    assert_eq!(snapshot(f.dir.path()), before);
}

#[test]
fn deploy_of_an_invalid_source_creates_nothing() {
    let f = Fixture::committed();
    edit_pristine(&f, "../etc/x");
    let trail = f.path("storage/trails/0");
    let src = f.root().join(".pvr").display().to_string();
    let e = deploy::deploy(
        &trail,
        &[src],
        false,
        &f.path("cfg"),
        f.root(),
        &mut std::io::sink(),
        &q(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("../etc/x"), "{e}");
    assert!(!f.path("storage").exists(), "the trail was created");
}

#[test]
fn deploy_of_a_valid_source_still_works() {
    let f = Fixture::committed();
    let trail = f.path("storage/trails/0");
    let mut out = vec![];
    let repo =
        deploy::deploy(&trail, &[], false, &f.path("cfg"), f.root(), &mut out, &q()).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("   - deploying single "), "{text}");
    assert_eq!(
        fs::read(trail.join(".pvr/json")).unwrap(),
        f.pristine_bytes()
    );
    assert!(trail.join("bsp/kernel.img").is_file());
    assert!(repo.config.default_get_url.ends_with("/repo/.pvr"));
    // explicit sources are listed without "single", as the original does
    let mut out = vec![];
    let src = f.root().join(".pvr").display().to_string();
    deploy::deploy(
        &trail,
        &[src],
        true,
        &f.path("cfg"),
        f.root(),
        &mut out,
        &q(),
    )
    .unwrap();
    assert!(String::from_utf8(out).unwrap().contains("   - deploying /"));
}
