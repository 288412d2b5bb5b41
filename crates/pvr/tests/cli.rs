//! The command line as a user meets it: the original's messages and exit
//! codes for wrong argument counts, inline JSON read as Go reads it, part
//! selection by whole path segments.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn pvr(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pvr"))
        .args(args)
        .current_dir(dir)
        .env("PVR_CONFIG_DIR", dir.join("../cfg"))
        .env_remove("PVR_AUTH")
        .env_remove("PVR_ACCESSTOKEN")
        .output()
        .unwrap()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = pvr(dir, args);
    assert!(
        o.status.success(),
        "pvr {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn repo() -> (tempfile::TempDir, std::path::PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let r = t.path().join("repo");
    fs::create_dir_all(&r).unwrap();
    ok(&r, &["init"]);
    (t, r)
}

#[test]
fn wrong_argument_counts_answer_as_the_original() {
    let (_t, r) = repo();
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["get", "a", "b"],
            1,
            "ERROR: Get can have at most 1 argument. See --help.\n",
        ),
        (
            &["merge", "a", "b"],
            1,
            "ERROR: Merge can have at most 1 argument. See --help.\n",
        ),
        (
            &["inspect", "a", "b"],
            1,
            "ERROR: Get can have at most 1 argument. See --help.\n",
        ),
        (
            &["remoteinfo", "a", "b"],
            1,
            "ERROR: Get can have at most 1 argument. See --help.\n",
        ),
        (
            &["post", "a", "b"],
            1,
            "ERROR: post can have at most 1 argument. See --help.\n",
        ),
        (
            &["export"],
            1,
            "ERROR: export-file name is required. See --help\n",
        ),
        (
            &["export", "a", "b"],
            1,
            "ERROR: export can have at most 1 argument. See --help\n",
        ),
        (
            &["import"],
            1,
            "ERROR: repo-tarball name is required. See --help\n",
        ),
        (
            &["import", "a", "b"],
            1,
            "ERROR: import can have at most 1 argument. See --help\n",
        ),
        (
            &["putobjects"],
            2,
            "Push requires exactly 1 argument. See --help.\n",
        ),
        (
            &["putobjects", "a", "b"],
            2,
            "Push requires exactly 1 argument. See --help.\n",
        ),
        (
            &["clone"],
            2,
            "clone needs need repository argument. See --help\n",
        ),
        (
            &["deploy"],
            101,
            "Deploy needs at least 1 argument. See --help.\n",
        ),
        (
            &["app", "add"],
            2,
            "app-add needs application name argument. See --help\n",
        ),
        (
            &["app", "install"],
            2,
            "app-install needs application argument. See --help\n",
        ),
        (
            &["app", "update"],
            2,
            "app-update needs application argument. See --help\n",
        ),
        (
            &["app", "info"],
            2,
            "'pvr app info' needs appname argument(eg:app info <appname>). See --help\n",
        ),
        (
            &["app", "rm"],
            2,
            "'pvr app rm' needs appname argument(eg:app rm <appname> ). See --help\n",
        ),
    ];
    let before = fs::read(r.join(".pvr/json")).unwrap();
    for (args, code, msg) in cases {
        let o = pvr(&r, args);
        assert_eq!(o.status.code(), Some(*code), "pvr {args:?}");
        assert_eq!(String::from_utf8_lossy(&o.stderr), *msg, "pvr {args:?}");
        assert!(o.stdout.is_empty(), "pvr {args:?}");
    }
    assert_eq!(fs::read(r.join(".pvr/json")).unwrap(), before);
    assert_eq!(fs::read_dir(&r).unwrap().count(), 1, "only .pvr");
}

fn sha256_hex(data: &[u8]) -> String {
    pv_types::ObjectId::of(data).to_hex()
}

#[test]
fn bad_unicode_escapes_read_as_go_reads_them() {
    let (_t, r) = repo();
    fs::write(
        r.join("x.json"),
        br#"{"lone":"a\ud800b","low":"\udc00","reversed":"\udc00\ud800","pair":"\ud83d\ude00","then":"\ud800\u0041"}"#,
    )
    .unwrap();
    // not JSON, and not named .json: an object of its raw bytes
    let raw = br#"not json "\ud800" at all"#;
    fs::write(r.join("notes.txt"), raw).unwrap();
    ok(&r, &["add", "."]);
    let want_x = "{\"lone\":\"a\u{fffd}b\",\"low\":\"\u{fffd}\",\"pair\":\"\u{1f600}\",\"reversed\":\"\u{fffd}\u{fffd}\",\"then\":\"\u{fffd}A\"}";
    let want = format!(
        "{{\"#spec\":\"pantavisor-service-system@1\",\"notes.txt\":\"{}\",\"x.json\":{want_x}}}",
        sha256_hex(raw)
    );
    assert_eq!(ok(&r, &["json", "--canonical"]), format!("{want}\n"));
    assert_eq!(ok(&r, &["status"]), "A notes.txt\nA x.json\n");
    let o = ok(&r, &["commit", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&o).unwrap();
    assert_eq!(v["state-sha"], sha256_hex(want.as_bytes()));
    assert_eq!(fs::read(r.join(".pvr/json")).unwrap(), want.as_bytes());
    assert_eq!(ok(&r, &["status"]), "");
    // a .json file that is not JSON at all is still an error, naming it
    fs::write(r.join("bad.json"), b"\\ud800 nope").unwrap();
    ok(&r, &["add", "bad.json"]);
    let o = pvr(&r, &["status"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("JSON Unmarshal (bad.json)"));
}

#[test]
fn parts_select_whole_path_segments() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    for (p, c) in [
        ("bsp/kernel.img", "k"),
        ("bspx/other.img", "o"),
        ("bsp.json", "{}"),
        ("app/root.squashfs", "a"),
    ] {
        fs::create_dir_all(src.join(p).parent().unwrap()).unwrap();
        fs::write(src.join(p), c).unwrap();
    }
    ok(&src, &["init"]);
    ok(&src, &["add", "."]);
    ok(&src, &["commit"]);
    let dst = t.path().join("dst");
    fs::create_dir_all(&dst).unwrap();
    ok(&dst, &["init"]);
    let keys = |dir: &Path| -> Vec<String> {
        let v: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.join(".pvr/json")).unwrap()).unwrap();
        v.as_object().unwrap().keys().cloned().collect()
    };
    ok(&dst, &["get", "../src/.pvr#bsp"]);
    assert_eq!(keys(&dst), ["#spec", "bsp/kernel.img"]);
    ok(&dst, &["merge", "../src/.pvr#app,bspx"]);
    assert_eq!(
        keys(&dst),
        [
            "#spec",
            "app/root.squashfs",
            "bsp/kernel.img",
            "bspx/other.img"
        ]
    );
    ok(&dst, &["get", "../src/.pvr#bsp.json,-bsp"]);
    assert_eq!(
        keys(&dst),
        ["#spec", "app/root.squashfs", "bsp.json", "bspx/other.img"]
    );
    // export --parts and inspect use the same parser
    ok(&src, &["export", "--parts", "bsp", "../bsp.tar"]);
    let inspected = ok(&dst, &["inspect", "--canonical", "../bsp.tar"]);
    let v: serde_json::Value = serde_json::from_str(&inspected).unwrap();
    let k: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(k, ["#spec", "bsp/kernel.img"]);
    let inspected = ok(&dst, &["inspect", "--canonical", "../src/.pvr#bspx"]);
    assert!(inspected.contains("bspx/other.img") && !inspected.contains("bsp/kernel"));
}

#[test]
fn add_dot_slash_names_the_file() {
    let (_t, r) = repo();
    fs::create_dir_all(r.join("d")).unwrap();
    fs::write(r.join("d/f.bin"), b"x").unwrap();
    fs::write(r.join("g.bin"), b"y").unwrap();
    ok(&r, &["add", "./d/f.bin"]);
    let abs = r.join("g.bin").display().to_string();
    ok(&r, &["add", &abs]);
    assert_eq!(ok(&r, &["status"]), "A d/f.bin\nA g.bin\n");
}

/// A power cut while objects are being published (simulated with the
/// debug build's crash points): no object has its final name before the
/// batch's flush, the committed state is the old one, and the next commit
/// completes.
#[test]
fn a_crash_before_the_batch_renames_leaves_no_object() {
    let (t, r) = repo();
    for i in 0..20 {
        fs::write(r.join(format!("f{i}.bin")), format!("content {i}")).unwrap();
    }
    ok(&r, &["add", "."]);
    let before = fs::read(r.join(".pvr/json")).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_pvr"))
        .args(["commit"])
        .current_dir(&r)
        .env("PVR_CONFIG_DIR", t.path().join("cfg"))
        .env("PV_FAULT", "batch:before-rename")
        .output()
        .unwrap();
    assert!(!o.status.success(), "the crash point was not reached");
    let pool = t.path().join("cfg/objects");
    let names: Vec<String> = fs::read_dir(&pool)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(!names.is_empty());
    assert!(names.iter().all(|n| pv_fs::is_temp_name(n)), "{names:?}");
    assert_eq!(fs::read(r.join(".pvr/json")).unwrap(), before);
    ok(&r, &["commit"]);
    let objects = fs::read_dir(&pool)
        .unwrap()
        .filter(|e| !pv_fs::is_temp_name(e.as_ref().unwrap().file_name().to_str().unwrap()))
        .count();
    assert_eq!(objects, 20);
    assert_eq!(ok(&r, &["status"]), "");
}
