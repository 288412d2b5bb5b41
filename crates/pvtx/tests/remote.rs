//! Remote transactions against the real control server (with the fake
//! owner of state of pv-ctrl's `testing` feature): the running revision
//! is read through the socket, objects are uploaded as packages are
//! added, and `commit` stores a new local revision.

mod common;

use common::*;
use pv_ctrl::testing::{pid_resolver, FakeDevice};
use pv_ctrl::Caller;

fn device() -> FakeDevice {
    FakeDevice::start(pid_resolver(vec![], Caller::Host))
}

#[test]
fn begin_current_add_and_commit_store_a_new_local_revision() {
    let d = tempfile::tempdir().unwrap();
    let dev = device();
    let sock = dev.socket();
    let sock = sock.to_str().unwrap();
    let r = repo(d.path());
    r.export(None, &d.path().join("full.tgz"));
    let tx = d.path().join("txdir");

    ok(&tx, &["--socket", sock, "begin"]);
    assert_eq!(
        text(&show(&tx)),
        r##"{"#spec":"pantavisor-service-system@1"}"##,
        "the factory revision of the fake device"
    );
    ok(
        &tx,
        &[
            "--socket",
            sock,
            "add",
            d.path().join("full.tgz").to_str().unwrap(),
        ],
    );
    let state = pv_types::State::from_slice(&show(&tx)).unwrap();
    assert_eq!(state.to_canonical(), r.state());
    for id in state.object_ids() {
        let bytes = std::fs::read(dev.objects_dir().join(id.to_hex())).unwrap();
        assert_eq!(pv_types::ObjectId::of(&bytes), id, "uploaded as added");
    }
    // the environment names the socket too
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_pvtx"))
        .arg("commit")
        .env("PVTXDIR", &tx)
        .env("PVTX_SOCKET", sock)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let rev = text(&o.stdout);
    let rev = rev.strip_suffix('\n').unwrap();
    let parts: Vec<&str> = rev
        .strip_prefix("locals/pvtx-")
        .unwrap()
        .split('-')
        .collect();
    assert_eq!(parts.len(), 3, "{rev}");
    assert!(parts[0].parse::<u64>().unwrap() > 1_700_000_000);
    let sha = pv_types::ObjectId::of(&r.state()).to_hex();
    assert_eq!(parts[1], &sha[..8]);
    assert!(parts[2].parse::<u32>().unwrap() < 1000);
    let stored = std::fs::read(dev.storage().join("trails").join(rev).join(".pvr/json")).unwrap();
    assert_eq!(stored, r.state());
    // committed: the transaction is over, a new one may begin from it
    fails(&tx, &["show"], 11);
    ok(&tx, &["--socket", sock, "begin", rev]);
    assert_eq!(show(&tx), r.state());
    ok(&tx, &["--socket", sock, "remove", "web"]);
    assert!(!text(&show(&tx)).contains("web/"));
}

#[test]
fn commit_refuses_a_state_whose_objects_the_device_lacks() {
    let d = tempfile::tempdir().unwrap();
    let dev = device();
    let sock = dev.socket();
    let sock = sock.to_str().unwrap();
    let tx = d.path().join("txdir");
    let json = d.path().join("state.json");
    let sha = pv_types::ObjectId::of(b"never uploaded").to_hex();
    std::fs::write(
        &json,
        format!(r##"{{"#spec":"pantavisor-service-system@1","x/root.squashfs":"{sha}"}}"##),
    )
    .unwrap();
    ok(&tx, &["--socket", sock, "begin", "empty"]);
    ok(&tx, &["--socket", sock, "add", json.to_str().unwrap()]);
    let err = fails(&tx, &["--socket", sock, "commit"], 255);
    assert!(
        err.contains(&sha) && err.contains("not on the device"),
        "{err}"
    );
    assert_eq!(dev.state().steps, ["0"], "no revision was stored");
    // still active and unchanged
    assert!(text(&show(&tx)).contains(&sha));
}

#[test]
fn an_object_that_does_not_match_its_name_is_refused_by_both_ends() {
    let d = tempfile::tempdir().unwrap();
    let dev = device();
    let sock = dev.socket();
    let sock = sock.to_str().unwrap();
    let tx = d.path().join("txdir");
    let sha = pv_types::ObjectId::of(b"right").to_hex();
    let name = format!("objects/{sha}");
    let json = format!(r##"{{"#spec":"pantavisor-service-system@1","x/f":"{sha}"}}"##);
    let mut b = tar::Builder::new(vec![]);
    for (n, data) in [
        ("json", json.as_bytes()),
        (name.as_str(), b"wrong".as_slice()),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_path(n).unwrap();
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    let pkg = d.path().join("bad.tar");
    std::fs::write(&pkg, b.into_inner().unwrap()).unwrap();
    ok(&tx, &["--socket", sock, "begin", "empty"]);
    let err = fails(&tx, &["--socket", sock, "add", pkg.to_str().unwrap()], 255);
    assert!(err.contains(&sha), "{err}");
    assert!(!dev.objects_dir().join(&sha).exists());
    assert_eq!(
        text(&show(&tx)),
        r##"{"#spec":"pantavisor-service-system@1"}"##
    );
}

#[test]
fn a_transaction_begun_from_a_checkout_uploads_its_objects_at_commit() {
    let d = tempfile::tempdir().unwrap();
    let dev = device();
    let sock = dev.socket();
    let sock = sock.to_str().unwrap();
    let r = repo(d.path());
    let tx = d.path().join("txdir");
    ok(&tx, &["--socket", sock, "begin", r.root.to_str().unwrap()]);
    assert_eq!(show(&tx), r.state());
    ok(&tx, &["--socket", sock, "remove", "web"]);
    let rev = ok(&tx, &["--socket", sock, "commit"]);
    let rev = rev.trim();
    let stored = pv_types::State::from_slice(
        &std::fs::read(dev.storage().join("trails").join(rev).join(".pvr/json")).unwrap(),
    )
    .unwrap();
    assert!(stored.get("web/run.json").is_none());
    for id in stored.object_ids() {
        let bytes = std::fs::read(dev.objects_dir().join(id.to_hex())).unwrap();
        assert_eq!(pv_types::ObjectId::of(&bytes), id);
    }
    // web's objects were not needed, so not uploaded
    let web = pv_types::State::from_slice(&r.state()).unwrap();
    let web_root = web.get("web/root.squashfs").unwrap().as_str().unwrap();
    assert!(!dev.objects_dir().join(web_root).exists());
}
