//! Metadata stores on real directories: files, views, order, reload.

use std::fs;
use std::path::{Path, PathBuf};

use pv_metadata::{MetaError, MetaKind, MetaStore, MAX_VALUE_SIZE};

struct Dirs {
    _tmp: tempfile::TempDir,
    storage: PathBuf,
    run: PathBuf,
}

fn dirs() -> Dirs {
    let tmp = tempfile::tempdir().unwrap();
    let storage = tmp.path().join("storage/cache/devmeta");
    let run = tmp.path().join("run");
    Dirs {
        storage,
        run,
        _tmp: tmp,
    }
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn set_writes_storage_and_every_view() {
    let d = dirs();
    let mut s = MetaStore::open(MetaKind::Device, &d.storage, &d.run).unwrap();
    assert!(s.set("foo.bar", "x").unwrap());
    assert_eq!(read(&d.storage.join("foo.bar")), "x");
    assert_eq!(read(&d.run.join("device-meta/foo.bar")), "x");
    assert_eq!(read(&d.run.join("device-meta.foo/bar")), "x");
    assert!(s.set("a.b.c", "y").unwrap());
    assert_eq!(read(&d.run.join("device-meta.a/b.c")), "y");
    assert!(s.set("plain", "z").unwrap());
    assert_eq!(read(&d.run.join("device-meta/plain")), "z");
    assert_eq!(s.get("plain"), Some("z"));
    assert_eq!(s.len(), 3);
    // no temp files left behind
    for dir in [&d.storage, &d.run.join("device-meta")] {
        for e in fs::read_dir(dir).unwrap() {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!n.starts_with('.'), "{n}");
        }
    }
}

#[test]
fn user_meta_views_are_separate() {
    let d = dirs();
    let mut s = MetaStore::open(MetaKind::User, &d.storage, &d.run).unwrap();
    s.set("app.PV_X", "1").unwrap();
    assert_eq!(read(&d.run.join("user-meta/app.PV_X")), "1");
    assert_eq!(read(&d.run.join("user-meta.app/PV_X")), "1");
    assert!(!d.run.join("device-meta").exists());
    assert_eq!(s.kind().not_found_message(), "User meta does not exist");
}

#[test]
fn order_newest_first_and_updates_keep_their_place() {
    let d = dirs();
    let mut s = MetaStore::open(MetaKind::Device, &d.storage, &d.run).unwrap();
    s.set("first", "1").unwrap();
    s.set("second", "2").unwrap();
    s.set("third", "3").unwrap();
    assert!(
        !s.set("second", "2").unwrap(),
        "unchanged value is not rewritten"
    );
    assert!(s.set("first", "one").unwrap());
    let keys: Vec<_> = s.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["third", "second", "first"]);
    assert_eq!(
        s.render(),
        "{\"third\":\"3\",\"second\":\"2\",\"first\":\"one\"}"
    );
}

#[test]
fn values_and_keys_are_checked() {
    let d = dirs();
    let mut s = MetaStore::open(MetaKind::Device, &d.storage, &d.run).unwrap();
    let max = "v".repeat(MAX_VALUE_SIZE);
    assert!(s.set("big", &max).unwrap());
    let err = s.set("bigger", &format!("{max}v")).unwrap_err();
    assert!(matches!(
        err,
        MetaError::ValueTooLarge {
            size: 4097,
            max: 4096,
            ..
        }
    ));
    assert!(!d.storage.join("bigger").exists());
    for bad in ["", "..", ".x", "a/b", "../etc"] {
        let e = s.set(bad, "v").unwrap_err();
        assert!(matches!(e, MetaError::InvalidKey { .. }), "{bad:?}");
        assert!(e.to_string().starts_with("invalid metadata key"), "{e}");
    }
    assert!(s.remove("a/b").is_err());
}

#[test]
fn remove_deletes_every_copy() {
    let d = dirs();
    let mut s = MetaStore::open(MetaKind::Device, &d.storage, &d.run).unwrap();
    s.set("foo.bar", "x").unwrap();
    assert!(s.remove("foo.bar").unwrap());
    assert!(!d.storage.join("foo.bar").exists());
    assert!(!d.run.join("device-meta/foo.bar").exists());
    assert!(!d.run.join("device-meta.foo/bar").exists());
    assert!(d.run.join("device-meta.foo").is_dir());
    assert!(!s.remove("foo.bar").unwrap(), "unknown key → not found");
    assert_eq!(s.render(), "{}");
}

#[test]
fn reload_from_storage_rebuilds_views() {
    let d = dirs();
    {
        let mut s = MetaStore::open(MetaKind::Device, &d.storage, &d.run).unwrap();
        s.set("b.key", "2").unwrap();
        s.set("a", "{\"x\":1}").unwrap();
        s.set("c", "3").unwrap();
        s.set("gone.key", "old").unwrap();
    }
    // a crash left a temp file, another tool wrote an oversized value,
    // the view has a stale key and the key "gone.key" was removed offline
    fs::write(d.storage.join(".c.pvtmp-1-1"), "partial").unwrap();
    fs::write(d.storage.join("huge"), vec![b'h'; MAX_VALUE_SIZE + 1]).unwrap();
    fs::remove_file(d.storage.join("gone.key")).unwrap();
    fs::write(d.run.join("device-meta/stale"), "s").unwrap();

    let s = MetaStore::open(MetaKind::Device, &d.storage, &d.run).unwrap();
    let keys: Vec<_> = s.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["c", "b.key", "a"], "loaded in reverse name order");
    assert_eq!(s.render(), "{\"c\":\"3\",\"b.key\":\"2\",\"a\":{\"x\":1}}");
    assert_eq!(s.skipped().len(), 1);
    assert_eq!(s.skipped()[0].path, d.storage.join("huge"));
    assert!(!d.run.join("device-meta/stale").exists());
    assert!(!d.run.join("device-meta/gone.key").exists());
    assert!(!d.run.join("device-meta.gone/key").exists());

    // a fresh run directory (reboot) is filled again
    let run2 = d.run.with_file_name("run2");
    let _s2 = MetaStore::open(MetaKind::Device, &d.storage, &run2).unwrap();
    assert_eq!(read(&run2.join("device-meta/b.key")), "2");
    assert_eq!(read(&run2.join("device-meta.b/key")), "2");
    assert_eq!(read(&run2.join("device-meta/a")), "{\"x\":1}");
}

#[test]
fn flat_view_bind_mounted_onto_storage_is_not_written_twice() {
    let d = dirs();
    fs::create_dir_all(&d.storage).unwrap();
    fs::create_dir_all(&d.run).unwrap();
    fs::write(d.storage.join("kept"), "k").unwrap();
    std::os::unix::fs::symlink(&d.storage, d.run.join("device-meta")).unwrap();
    let mut s = MetaStore::open(MetaKind::Device, &d.storage, &d.run).unwrap();
    assert_eq!(s.get("kept"), Some("k"));
    s.set("x.y", "1").unwrap();
    assert_eq!(read(&d.run.join("device-meta/x.y")), "1");
    assert_eq!(read(&d.run.join("device-meta.x/y")), "1");
    s.remove("kept").unwrap();
    assert!(!d.storage.join("kept").exists());
}

#[test]
fn container_views_exist_before_any_key() {
    let d = dirs();
    let s = MetaStore::open(MetaKind::User, &d.storage, &d.run).unwrap();
    let dir = s.ensure_container_view("app1").unwrap();
    assert_eq!(dir, d.run.join("user-meta.app1"));
    assert!(dir.is_dir());
    assert!(s.ensure_container_view("../x").is_err());
}

#[test]
fn replace_all_mirrors_the_hub_document() {
    let d = dirs();
    let mut s = MetaStore::open(MetaKind::User, &d.storage, &d.run).unwrap();
    s.set("local.only", "1").unwrap();
    s.set("shared", "old").unwrap();
    let gone = s
        .replace_all([("shared", "new"), ("hub.key", "h")])
        .unwrap();
    assert_eq!(gone, ["local.only"]);
    assert_eq!(s.get("shared"), Some("new"));
    assert_eq!(s.get("hub.key"), Some("h"));
    assert!(!d.storage.join("local.only").exists());
    assert!(!d.run.join("user-meta.local/only").exists());
    // one bad pair: nothing changes
    assert!(s.replace_all([("fine", "1"), ("bad/key", "2")]).is_err());
    assert_eq!(s.get("fine"), None);
    assert_eq!(s.get("shared"), Some("new"));
}

#[test]
fn default_storage_dirs() {
    let root = Path::new("/storage");
    assert_eq!(
        MetaKind::Device.default_storage_dir(root, false),
        Path::new("/storage/cache/devmeta")
    );
    assert_eq!(
        MetaKind::User.default_storage_dir(root, false),
        Path::new("/storage/cache/meta")
    );
    assert_eq!(
        MetaKind::User.default_storage_dir(root, true),
        Path::new("/storage/cache/usrmeta")
    );
}

#[test]
fn errors_name_the_path() {
    let d = dirs();
    fs::create_dir_all(d.storage.parent().unwrap()).unwrap();
    fs::write(&d.storage, "not a directory").unwrap();
    let e = MetaStore::open(MetaKind::Device, &d.storage, &d.run).unwrap_err();
    assert!(
        e.to_string().contains(&d.storage.display().to_string()),
        "{e}"
    );
}

#[test]
fn volatile_values_stay_out_of_storage() {
    let d = dirs();
    let mut s = MetaStore::open(MetaKind::Device, &d.storage, &d.run).unwrap();
    s.set("time", "old").unwrap();
    assert!(d.storage.join("time").exists());
    assert!(s.set_volatile("time", "{\"tv\":1}").unwrap());
    assert!(!s.set_volatile("time", "{\"tv\":1}").unwrap());
    assert!(!d.storage.join("time").exists());
    assert_eq!(read(&d.run.join("device-meta/time")), "{\"tv\":1}");
    assert_eq!(s.render(), "{\"time\":{\"tv\":1}}");
    // persisting it again writes storage even with the same value
    assert!(s.set("time", "{\"tv\":1}").unwrap());
    assert!(d.storage.join("time").exists());
    s.set_volatile("sysinfo", "x").unwrap();
    drop(s);
    let s = MetaStore::open(MetaKind::Device, &d.storage, &d.run).unwrap();
    assert_eq!(
        s.get("sysinfo"),
        None,
        "volatile keys do not survive a reload"
    );
    assert!(!d.run.join("device-meta/sysinfo").exists());
    assert_eq!(s.get("time"), Some("{\"tv\":1}"));
}
