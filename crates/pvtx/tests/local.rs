//! Local transactions (an object directory) on packages made by our pvr:
//! every command, the merge rules on signed, unsigned, config and BSP
//! parts, `show` against the states pvr committed, bad input.

mod common;

use std::path::Path;

use common::*;

fn bzip2_file(src: &Path, dest: &Path) {
    let data = std::fs::read(src).unwrap();
    let mut e = bzip2::write::BzEncoder::new(vec![], bzip2::Compression::fast());
    std::io::Write::write_all(&mut e, &data).unwrap();
    std::fs::write(dest, e.finish().unwrap()).unwrap();
}

/// v1 exported whole, then v2 (a re-signed app with another root and
/// config file, a new kernel, an updated unsigned web) in packages.
struct Fixture {
    _d: tempfile::TempDir,
    dir: std::path::PathBuf,
    repo: Repo,
    v1: Vec<u8>,
    v2: Vec<u8>,
}

fn fixture() -> Fixture {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().to_path_buf();
    let repo = repo(&dir);
    repo.export(None, &dir.join("full1.tgz"));
    let v1 = repo.state();
    std::fs::write(dir.join("v1.json"), &v1).unwrap();
    // v2: the app's root changes, its config overlay loses motd and gains issue
    add_app(&repo, "app", "v2");
    std::fs::remove_file(repo.root.join("_config/app/etc/motd")).unwrap();
    repo.write("_config/app/etc/issue", b"v2\n");
    repo.commit("app v2");
    let key = signing_key();
    repo.pvr(&[
        "sig",
        "--key",
        key.to_str().unwrap(),
        "--x5c",
        "no",
        "update",
    ]);
    repo.commit("app v2 signed");
    repo.export(
        Some("app,_config/app,_sigs/app.json"),
        &dir.join("app2.tgz"),
    );
    repo.write("bsp/kernel.img", b"another kernel");
    repo.commit("bsp v2");
    repo.export(Some("bsp"), &dir.join("bsp2.tar"));
    add_app(&repo, "web", "v2");
    repo.commit("web v2");
    repo.export(Some("web"), &dir.join("web2.tar"));
    bzip2_file(&dir.join("web2.tar"), &dir.join("web2.tar.bz2"));
    let v2 = repo.state();
    Fixture {
        _d: d,
        dir,
        repo,
        v1,
        v2,
    }
}

#[test]
fn packages_of_every_kind_build_what_pvr_committed_and_deploy_lays_it_out() {
    let f = fixture();
    let tx = f.dir.join("txdir");
    let objects = f.dir.join("objects");
    ok(&tx, &["begin", "empty", objects.to_str().unwrap()]);
    assert_eq!(
        text(&show(&tx)),
        r##"{"#spec":"pantavisor-service-system@1"}"##
    );
    ok(&tx, &["add", f.dir.join("full1.tgz").to_str().unwrap()]);
    assert_eq!(text(&show(&tx)), text(&f.v1));
    // a signed app package (tar.gz), a BSP (tar), an unsigned app (tar.bz2)
    ok(&tx, &["add", f.dir.join("app2.tgz").to_str().unwrap()]);
    ok(&tx, &["add", f.dir.join("bsp2.tar").to_str().unwrap()]);
    let o = pvtx(
        &tx,
        &["add", "-"],
        Some(&std::fs::read(f.dir.join("web2.tar.bz2")).unwrap()),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&show(&tx)), text(&f.v2));
    assert!(
        !text(&show(&tx)).contains("_config/app/etc/motd"),
        "the old signature's config went with it"
    );
    // show is stable
    assert_eq!(show(&tx), show(&tx));

    let dep = f.dir.join("deploy");
    ok(&tx, &["deploy", dep.to_str().unwrap()]);
    assert_eq!(std::fs::read(dep.join(".pvr/json")).unwrap(), f.v2);
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dep.join(".pvr/config")).unwrap()).unwrap();
    assert_eq!(config["ObjectsDir"], objects.to_str().unwrap());
    for rel in [
        "app/root.squashfs",
        "_config/app/etc/issue",
        "bsp/kernel.img",
        "web/lxc.container.conf",
    ] {
        assert_eq!(
            std::fs::read(dep.join(rel)).unwrap(),
            std::fs::read(f.repo.root.join(rel)).unwrap(),
            "{rel}"
        );
    }
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dep.join("app/run.json")).unwrap()).unwrap();
    assert_eq!(run["name"], "app");
    assert_eq!(
        std::fs::read(dep.join(".pv/pv-kernel.img")).unwrap(),
        b"another kernel"
    );
    assert!(!dep.join("_config/app/etc/motd").exists());
    // deployed: the transaction is over
    fails(&tx, &["show"], 11);
    // deploying again over an existing directory replaces it
    ok(
        &tx,
        &["begin", dep.to_str().unwrap(), objects.to_str().unwrap()],
    );
    ok(&tx, &["remove", "web"]);
    ok(&tx, &["deploy", dep.to_str().unwrap()]);
    assert!(!dep.join("web").exists());
    assert!(dep.join("app/root.squashfs").exists());
    assert!(!f.dir.join("deploy.bak").exists());
}

#[test]
fn parts_are_removed_by_name_signature_or_config_as_pvr_would_delete_them() {
    let f = fixture();
    let tx = f.dir.join("txdir");
    let v2 = f.dir.join("v2.json");
    std::fs::write(&v2, &f.v2).unwrap();
    // what pvr commits once the app's files are gone
    for p in ["app", "_config/app", "_sigs"] {
        std::fs::remove_dir_all(f.repo.root.join(p)).unwrap();
    }
    f.repo.commit("no app");
    let without_app = f.repo.state();
    for part in ["app", "_sigs/app.json", "_config/app"] {
        ok(&tx, &["abort"]);
        ok(&tx, &["begin", v2.to_str().unwrap()]);
        ok(&tx, &["remove", part]);
        assert_eq!(text(&show(&tx)), text(&without_app), "remove {part}");
    }
    std::fs::remove_dir_all(f.repo.root.join("web")).unwrap();
    f.repo.commit("no web");
    ok(&tx, &["remove", "web"]);
    assert_eq!(text(&show(&tx)), text(&f.repo.state()));
}

/// Tar members: names and contents.
type Members = Vec<(String, Vec<u8>)>;

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let f = fixture();
    let tx = f.dir.join("txdir");
    let objects = f.dir.join("objects");
    ok(&tx, &["begin", "empty", objects.to_str().unwrap()]);
    ok(&tx, &["add", f.dir.join("full1.tgz").to_str().unwrap()]);
    let before = show(&tx);
    let record = std::fs::read(tx.join("transaction.json")).unwrap();
    let count = || std::fs::read_dir(&objects).unwrap().count();
    let n = count();

    let json = br##"{"#spec":"pantavisor-service-system@1","x/run.json":{}}"##;
    let right = b"right bytes";
    let sha = pv_types::ObjectId::of(right).to_hex();
    let cases: Vec<(&str, Members, &str)> = vec![
        (
            "traversal.tar",
            vec![
                ("json".into(), json.to_vec()),
                ("../../etc/x".into(), b"x".to_vec()),
            ],
            "unexpected member",
        ),
        (
            "wrong-object.tar",
            vec![
                ("json".into(), json.to_vec()),
                (format!("objects/{sha}"), b"wrong bytes".to_vec()),
            ],
            "wrong sha",
        ),
        (
            "not-a-state.tar",
            vec![("json".into(), b"[1,2,3]".to_vec())],
            "not a state JSON",
        ),
        (
            "bad-key.tar",
            vec![(
                "json".into(),
                br##"{"#spec":"pantavisor-service-system@1","../x":{}}"##.to_vec(),
            )],
            "not a valid state",
        ),
    ];
    for (name, members, needle) in cases {
        let mut b = tar::Builder::new(vec![]);
        for (n, data) in &members {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.as_gnu_mut().unwrap().name[..n.len()].copy_from_slice(n.as_bytes());
            h.set_cksum();
            b.append(&h, &data[..]).unwrap();
        }
        let p = f.dir.join(name);
        std::fs::write(&p, b.into_inner().unwrap()).unwrap();
        let err = fails(&tx, &["add", p.to_str().unwrap()], 255);
        assert!(err.contains(needle), "{name}: {err}");
        assert!(err.starts_with("ERROR: add: "), "{err}");
    }
    let notstate = f.dir.join("not-a-state.json");
    std::fs::write(&notstate, br#"{"just":"json"}"#).unwrap();
    let err = fails(&tx, &["add", notstate.to_str().unwrap()], 255);
    assert!(err.contains("not a valid state"), "{err}");
    let err = fails(&tx, &["remove", "nothere"], 255);
    assert_eq!(
        err,
        "ERROR: remove: part \"nothere\" is not in the transaction\n"
    );
    fails(
        &tx,
        &["add", f.dir.join("missing.tgz").to_str().unwrap()],
        255,
    );
    assert_eq!(show(&tx), before);
    assert_eq!(std::fs::read(tx.join("transaction.json")).unwrap(), record);
    assert_eq!(count(), n, "no object of a refused package was kept");
}

#[test]
fn queue_records_steps_and_process_replays_them() {
    let f = fixture();
    let tx = f.dir.join("txdir");
    let queue = f.dir.join("queue");
    let objects = f.dir.join("objects");
    ok(
        &tx,
        &[
            "queue",
            "new",
            queue.to_str().unwrap(),
            objects.to_str().unwrap(),
        ],
    );
    ok(&tx, &["queue", "remove", "web"]);
    ok(&tx, &["queue", "remove", "_config/nothing"]);
    ok(
        &tx,
        &["queue", "unpack", f.dir.join("app2.tgz").to_str().unwrap()],
    );
    let mut names: Vec<String> = std::fs::read_dir(&queue)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "000__web.remove",
            "001___config%2Fnothing.remove",
            "002__app2.tgz"
        ]
    );
    // a removal of a missing part fails the whole replay
    let v1 = f.dir.join("v1.json");
    let err = fails(&tx, &["queue", "process", v1.to_str().unwrap()], 255);
    assert!(err.contains("_config/nothing"), "{err}");
    std::fs::remove_file(queue.join("001___config%2Fnothing.remove")).unwrap();
    ok(&tx, &["abort"]);
    // abort dropped the queue record too, as the original: set it up again
    ok(
        &tx,
        &[
            "queue",
            "process",
            v1.to_str().unwrap(),
            queue.to_str().unwrap(),
            objects.to_str().unwrap(),
        ],
    );
    let got = show(&tx);
    let mut want = pv_types::State::from_slice(&f.v1).unwrap();
    let app2 = pv_types::State::from_slice(&f.v2).unwrap();
    want.as_map_mut().retain(|k, _| !k.starts_with("web/"));
    want.as_map_mut()
        .retain(|k, _| !(k.starts_with("app/") || k.starts_with("_config/app/")));
    for (k, v) in app2.iter().filter(|(k, _)| {
        k.starts_with("app/") || k.starts_with("_config/app/") || k.starts_with("_sigs/")
    }) {
        want.insert(k.clone(), v.clone());
    }
    assert_eq!(text(&got), text(&want.to_canonical()));
    // the objects of the unpacked package are in the object directory
    let st = pv_types::State::from_slice(&got).unwrap();
    for (_, id) in st
        .objects()
        .into_iter()
        .filter(|(k, _)| k.starts_with("app/"))
    {
        assert!(objects.join(id.to_hex()).is_file());
    }
}

#[test]
fn commands_answer_as_the_original() {
    let d = tempfile::tempdir().unwrap();
    let tx = d.path().join("txdir");
    let objects = d.path().join("objects");
    assert!(fails(&tx, &["show"], 11).contains("no active transaction"));
    fails(&tx, &["commit"], 11);
    fails(&tx, &["deploy", "/nonexistent"], 11);
    fails(&tx, &["add", "x.json"], 1);
    fails(&tx, &["remove", "x"], 3);
    assert_eq!(
        fails(&tx, &["add"], 255),
        "ERROR: add: missing argument, file or - is needed\n"
    );
    fails(&tx, &["remove"], 4);
    fails(&tx, &["deploy"], 1);
    fails(&tx, &["queue", "new", "q"], 1);
    fails(&tx, &["queue", "remove", "x"], 1);
    assert!(fails(&tx, &["frobnicate"], 255).contains("sub command not found: frobnicate"));
    ok(&tx, &["abort"]);
    ok(&tx, &["begin", "empty", objects.to_str().unwrap()]);
    assert!(fails(&tx, &["begin", "empty"], 255).contains("already in progress"));
    assert!(fails(&tx, &["commit"], 12).contains("local transaction"));
    fails(&tx, &["queue", "new", "q", objects.to_str().unwrap()], 12);
    ok(&tx, &["abort"]);
    fails(&tx, &["show"], 11);
    // remote transactions need a device only for what reaches it
    ok(&tx, &["begin", "empty"]);
    let err = fails(&tx, &["deploy", d.path().join("x").to_str().unwrap()], 255);
    assert!(err.contains("remote transaction"), "{err}");
    let err = fails(&tx, &["--socket", "/nonexistent/pv-ctrl", "commit"], 255);
    assert!(err.contains("pv-ctrl"), "{err}");
    assert!(ok(&tx, &["help"]).contains("queue"));
    // a record this version cannot read is named, and abort clears it
    std::fs::write(tx.join("transaction.json"), b"\0garbage").unwrap();
    assert!(fails(&tx, &["show"], 255).contains("transaction.json"));
    ok(&tx, &["abort"]);
    fails(&tx, &["show"], 11);
}

/// A copy of a transaction whose record uses `objects` (its objects
/// hard-linked from `from_objects`).
fn clone_tx(record: &[u8], from_objects: &Path, tx: &Path, objects: &Path) {
    std::fs::create_dir_all(tx).unwrap();
    std::fs::create_dir_all(objects).unwrap();
    for e in std::fs::read_dir(from_objects).unwrap().flatten() {
        std::fs::hard_link(e.path(), objects.join(e.file_name())).unwrap();
    }
    let mut rec: serde_json::Value = serde_json::from_slice(record).unwrap();
    rec["objects"] = objects.to_str().unwrap().into();
    std::fs::write(tx.join("transaction.json"), rec.to_string()).unwrap();
}

#[test]
fn a_killed_add_leaves_the_previous_transaction_or_the_new_one() {
    let f = fixture();
    let base_tx = f.dir.join("tx0");
    let base_objects = f.dir.join("objects0");
    ok(
        &base_tx,
        &["begin", "empty", base_objects.to_str().unwrap()],
    );
    ok(
        &base_tx,
        &["add", f.dir.join("full1.tgz").to_str().unwrap()],
    );
    let before = show(&base_tx);
    let record = std::fs::read(base_tx.join("transaction.json")).unwrap();
    let pkg = f.dir.join("app2.tgz");
    let add = |tx: &Path, fault: Option<(&str, &Path)>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_pvtx"));
        c.args(["add", pkg.to_str().unwrap()]).env("PVTXDIR", tx);
        if let Some((k, v)) = fault {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    // every crash point an add passes through
    let log = f.dir.join("points.log");
    clone_tx(
        &record,
        &base_objects,
        &f.dir.join("txl"),
        &f.dir.join("objl"),
    );
    assert!(add(&f.dir.join("txl"), Some(("PV_FAULT_LOG", &log)))
        .status
        .success());
    let after = show(&f.dir.join("txl"));
    assert_ne!(after, before);
    let points: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert!(
        points.iter().any(|p| p.contains("transaction.json")),
        "{points:?}"
    );
    let mut seen = std::collections::BTreeMap::<&str, usize>::new();
    for (i, p) in points.iter().enumerate() {
        let n = seen.entry(p).or_default();
        *n += 1;
        let tx = f.dir.join(format!("tx-{i}"));
        let objects = tx.with_extension("objects");
        clone_tx(&record, &base_objects, &tx, &objects);
        let fault = format!("{p}@{n}");
        let o = add(&tx, Some(("PV_FAULT", Path::new(&fault))));
        assert!(!o.status.success(), "{fault}: not killed");
        let now = show(&tx);
        assert!(now == before || now == after, "{fault}: {}", text(&now));
        let st = pv_types::State::from_slice(&now).unwrap();
        for (key, id) in st.objects() {
            let bytes = std::fs::read(objects.join(id.to_hex())).unwrap();
            assert_eq!(pv_types::ObjectId::of(&bytes), id, "{fault}: {key}");
        }
    }
}
