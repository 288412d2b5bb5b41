//! Bad input gets a clear error naming the file and changes nothing in the
//! checkout.

mod common;

use std::fs;

use common::{tar_with, Fixture};
use pv_types::ObjectId;
use pvr_core::checkout::{checkout, CheckoutOptions};
use pvr_core::progress::Progress;
use pvr_core::{export, get};

fn q() -> Progress {
    Progress::quiet()
}

#[test]
fn corrupt_pool_object_fails_checkout_before_writing() {
    let f = Fixture::committed();
    fs::remove_file(f.root().join("bsp/kernel.img")).unwrap();
    fs::remove_file(f.root().join("app/root.squashfs")).unwrap();
    let id = ObjectId::of(b"squash");
    let obj = f.repo.objects.path(&id);
    fs::set_permissions(&obj, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    fs::write(&obj, b"evil!!").unwrap();
    let err = checkout(&f.repo, CheckoutOptions::default(), &q())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("wrong sha") && err.contains(&id.to_hex()),
        "{err}"
    );
    // nothing was restored: the check runs before any write
    assert!(!f.root().join("bsp/kernel.img").exists());
    assert!(!f.root().join("app/root.squashfs").exists());
}

#[test]
fn export_import_round_trip() {
    let f = Fixture::committed();
    let out = f.path("x.pvrexport.tgz");
    export::export(&f.repo, &Default::default(), out.to_str().unwrap()).unwrap();
    let other = tempfile::tempdir().unwrap();
    let r2 = pvr_core::Repo::init(
        &other.path().join("r"),
        &other.path().join("cfg"),
        None,
        None,
    )
    .unwrap();
    let s = export::import(&r2, &out).unwrap();
    assert_eq!(s.to_canonical(), f.pristine_bytes());
    checkout(&r2, CheckoutOptions::default(), &q()).unwrap();
    assert_eq!(
        fs::read(r2.root.join("bsp/kernel.img")).unwrap(),
        vec![7u8; 5000]
    );
}

fn import_fails(f: &Fixture, archive: &[u8], needle: &str) {
    let p = f.path("bad.tar");
    fs::write(&p, archive).unwrap();
    let before = f.pristine_bytes();
    let err = export::import(&f.repo, &p).unwrap_err().to_string();
    assert!(
        err.contains("bad.tar"),
        "error does not name the file: {err}"
    );
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert_eq!(f.pristine_bytes(), before, "the committed state changed");
    assert!(!f.dir.path().join("evil").exists());
}

#[test]
fn tarball_with_dotdot_member_is_rejected() {
    let f = Fixture::committed();
    import_fails(
        &f,
        &tar_with(&[("json", b"{}"), ("../evil", b"x")]),
        "unexpected member",
    );
}

#[test]
fn tarball_with_absolute_member_is_rejected() {
    let f = Fixture::committed();
    import_fails(&f, &tar_with(&[("/tmp/evil", b"x")]), "unexpected member");
}

#[test]
fn tarball_with_symlink_member_is_rejected() {
    let f = Fixture::committed();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "objects/x", "/etc/passwd").unwrap();
    import_fails(&f, &b.into_inner().unwrap(), "not a regular file");
}

#[test]
fn state_with_escaping_key_is_rejected() {
    let f = Fixture::committed();
    let sha = ObjectId::of(b"x").to_hex();
    let json = format!(r##"{{"#spec":"pantavisor-service-system@1","../evil":"{sha}"}}"##);
    import_fails(
        &f,
        &tar_with(&[("json", json.as_bytes()), (&format!("objects/{sha}"), b"x")]),
        "\"../evil\"",
    );
}

#[test]
fn object_with_wrong_content_is_rejected() {
    let f = Fixture::committed();
    let sha = ObjectId::of(b"x").to_hex();
    let json = format!(r##"{{"#spec":"pantavisor-service-system@1","f":"{sha}"}}"##);
    let p = f.path("bad.tar");
    fs::write(
        &p,
        tar_with(&[("json", json.as_bytes()), (&format!("objects/{sha}"), b"y")]),
    )
    .unwrap();
    let before = f.pristine_bytes();
    let err = export::import(&f.repo, &p).unwrap_err().to_string();
    assert!(
        err.contains("wrong sha") && err.contains("bad.tar"),
        "{err}"
    );
    assert_eq!(f.pristine_bytes(), before);
    assert!(!f.repo.objects.contains(&ObjectId::of(b"x")));
}

#[test]
fn truncated_export_is_rejected() {
    let f = Fixture::committed();
    let out = f.path("full.tgz");
    export::export(&f.repo, &Default::default(), out.to_str().unwrap()).unwrap();
    let bytes = fs::read(&out).unwrap();
    for cut in [bytes.len() / 3, bytes.len() - 30] {
        let other = Fixture::committed();
        let p = other.path("bad.tar");
        fs::write(&p, &bytes[..cut]).unwrap();
        let before = other.pristine_bytes();
        let err = export::import(&other.repo, &p).unwrap_err().to_string();
        assert!(err.contains("bad.tar"), "{err}");
        assert_eq!(other.pristine_bytes(), before);
    }
}

#[test]
fn missing_object_in_export_is_rejected() {
    let f = Fixture::committed();
    let sha = ObjectId::of(b"never shipped").to_hex();
    let json = format!(r##"{{"#spec":"pantavisor-service-system@1","f":"{sha}"}}"##);
    import_fails(&f, &tar_with(&[("json", json.as_bytes())]), "missing");
}

#[test]
fn hand_edited_pristine_cannot_write_outside() {
    let f = Fixture::committed();
    let sha = ObjectId::of(b"squash").to_hex();
    let json = format!(r##"{{"#spec":"pantavisor-service-system@1","../../evil":"{sha}"}}"##);
    fs::write(f.root().join(".pvr/json"), json).unwrap();
    let err = checkout(&f.repo, CheckoutOptions::default(), &q())
        .unwrap_err()
        .to_string();
    assert!(err.contains("../../evil"), "{err}");
    assert!(!f.dir.path().join("evil").exists());
}

#[test]
fn checkout_refuses_symlink_escape() {
    let f = Fixture::committed();
    let outside = f.path("outside");
    fs::create_dir(&outside).unwrap();
    fs::remove_dir_all(f.root().join("app")).unwrap();
    std::os::unix::fs::symlink(&outside, f.root().join("app")).unwrap();
    let err = checkout(&f.repo, CheckoutOptions::default(), &q())
        .unwrap_err()
        .to_string();
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
}

#[test]
fn get_from_repo_with_invalid_state_changes_nothing() {
    let f = Fixture::committed();
    let src = f.path("src");
    fs::create_dir_all(src.join("objects")).unwrap();
    fs::write(
        src.join("json"),
        br##"{"#spec":"pantavisor-service-system@1","a//b":"zz"}"##,
    )
    .unwrap();
    let before = f.pristine_bytes();
    let mut repo = f.repo.clone();
    let err = get::get(&mut repo, src.to_str().unwrap(), false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("a//b") && err.contains("src"), "{err}");
    assert_eq!(f.pristine_bytes(), before);
}
