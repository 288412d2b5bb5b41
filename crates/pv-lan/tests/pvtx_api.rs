//! The pvtx REST API driven with curl, in front of the real control
//! server (`pv_ctrl::testing::FakeDevice` owns the state): every call of
//! the seed's chapter with its bodies and answers, the token rule, bad
//! requests.

use std::path::Path;
use std::process::Command;

use pv_ctrl::testing::{pid_resolver, FakeDevice};
use pv_ctrl::{Caller, CommandOp};
use pv_lan::{LanConfig, LanServer, Limits, Token};
use serde_json::{json, Value};

const TOKEN: &str = "pvtx-api-test-token-0123456";

fn start(token: Option<&str>) -> (FakeDevice, LanServer, String) {
    let dev = FakeDevice::start(pid_resolver(vec![], Caller::Host));
    std::fs::create_dir_all(dev.objects_dir()).unwrap();
    let lan = LanServer::start(LanConfig {
        logs: None,
        listen: "127.0.0.1:0".parse().unwrap(),
        token: token.map(|t| Token::new(t).unwrap()),
        ctrl_socket: dev.socket(),
        objects: dev.objects_dir(),
        trail_id: "dev1".into(),
        limits: Limits::default(),
        pvtx_dir: dev.dir.path().join("pvtx"),
    })
    .unwrap();
    let base = format!("http://{}/cgi-bin/pvtx", lan.local_addr());
    (dev, lan, base)
}

/// `curl -X <method> <url> [--data-binary @file | --data-raw text]`:
/// status and body.
fn curl(method: &str, url: &str, data: Option<&str>, auth: Option<&str>) -> (u16, String) {
    let mut c = Command::new("curl");
    c.args(["-s", "-X", method, url, "-w", "\n%{http_code}"]);
    if let Some(d) = data {
        c.args(["--data-binary", d]);
    }
    if let Some(a) = auth {
        c.args(["-H", &format!("Authorization: Bearer {a}")]);
    }
    let o = c.output().unwrap();
    let out = String::from_utf8(o.stdout).unwrap();
    let (body, code) = out.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_string())
}

fn j(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

/// A package: `json` and `objects/<sha>` for each object.
fn package(path: &Path, state: &Value, objects: &[&[u8]]) {
    let mut b = tar::Builder::new(vec![]);
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_path(name).unwrap();
        h.set_cksum();
        b.append(&h, data).unwrap();
    };
    add("json", state.to_string().as_bytes());
    for o in objects {
        add(&format!("objects/{}", pv_types::ObjectId::of(o)), o);
    }
    let mut gz = flate2::write::GzEncoder::new(vec![], flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &b.into_inner().unwrap()).unwrap();
    std::fs::write(path, gz.finish().unwrap()).unwrap();
}

#[test]
fn every_call_with_its_documented_answer() {
    if !pv_testkit::require_tool("curl") {
        return;
    }
    let (dev, _lan, base) = start(None);
    let d = tempfile::tempdir().unwrap();
    let root = b"a root filesystem";
    let sha = pv_types::ObjectId::of(root).to_hex();
    let app = json!({"#spec": "pantavisor-service-system@1",
        "app/run.json": {"name": "app", "root-volume": "root.squashfs"},
        "app/root.squashfs": sha});
    let pkg = d.path().join("container.tar.gz");
    package(&pkg, &app, &[root]);
    let at = format!("@{}", pkg.display());

    let (s, b) = curl("GET", &format!("{base}/show"), None, None);
    assert_eq!(
        (s, j(&b)),
        (
            400,
            json!({"error": "No active transaction.", "transaction": null})
        )
    );
    let (s, b) = curl("POST", &format!("{base}/begin?empty=true"), None, None);
    assert_eq!(
        (s, b.as_str()),
        (200, r##"{"#spec":"pantavisor-service-system@1"}"##)
    );
    let (s, b) = curl("POST", &format!("{base}/begin"), None, None);
    assert_eq!(s, 409, "{b}");
    assert_eq!(j(&b)["transaction"]["#spec"], "pantavisor-service-system@1");

    let (s, b) = curl("PUT", &format!("{base}/add"), Some(&at), None);
    assert_eq!(s, 200, "{b}");
    assert_eq!(j(&b), app);
    assert!(
        dev.objects_dir().join(&sha).is_file(),
        "uploaded to the device"
    );
    let (s, b) = curl("GET", &format!("{base}/show"), None, None);
    assert_eq!((s, j(&b)), (200, app.clone()));

    let (s, b) = curl("PUT", &format!("{base}/remove?part=nothere"), None, None);
    assert_eq!(s, 400);
    assert!(j(&b)["error"].as_str().unwrap().contains("nothere"), "{b}");
    let (s, b) = curl("PUT", &format!("{base}/remove?part=app"), None, None);
    assert_eq!(
        (s, b.as_str()),
        (200, r##"{"#spec":"pantavisor-service-system@1"}"##)
    );
    curl("PUT", &format!("{base}/add"), Some(&at), None);

    let (s, b) = curl("POST", &format!("{base}/commit"), None, None);
    assert_eq!(s, 200, "{b}");
    let rev = j(&b)["revision"].as_str().unwrap().to_string();
    assert!(rev.starts_with("locals/pvtx-"), "{rev}");
    assert!(dev.state().steps.contains(&rev));
    let (s, b) = curl("POST", &format!("{base}/commit"), None, None);
    assert_eq!(
        (s, j(&b)),
        (
            400,
            json!({"error": "No active transaction. Start a transaction first.", "transaction": null})
        )
    );

    let (s, b) = curl("POST", &format!("{base}/run?rev={rev}"), None, None);
    assert_eq!(s, 200, "{b}");
    assert_eq!(j(&b)["status"], "NEW");
    let cmd = dev.tick().expect("LOCAL_RUN queued");
    assert_eq!(
        (cmd.op, cmd.payload.as_str()),
        (CommandOp::LocalRun, rev.as_str())
    );
    let (s, b) = curl("POST", &format!("{base}/run?rev=../x"), None, None);
    assert_eq!(s, 400, "{b}");

    let (s, b) = curl("GET", &format!("{base}/status?rev={rev}"), None, None);
    assert_eq!(s, 200);
    assert_eq!(j(&b)["rev"], rev.as_str());
    assert_eq!(j(&b)["progress"]["status-msg"], "Update ready to be run");
    let (s, b) = curl("GET", &format!("{base}/status"), None, None);
    assert_eq!(s, 200);
    assert_eq!(j(&b)["rev"], "0");
    assert_eq!(j(&b)["progress"]["status"], "DONE");

    let (s, b) = curl("GET", &format!("{base}/get-config"), None, None);
    assert_eq!(s, 200);
    assert_eq!(j(&b)["device"]["pantavisor.revision"], "0");
    assert_eq!(j(&b)["user"], json!({}));
    let (s, b) = curl(
        "POST",
        &format!("{base}/usermeta/save?key=newkey"),
        Some("value of the usermeta"),
        None,
    );
    assert_eq!(
        (s, j(&b)),
        (200, json!({"newkey": "value of the usermeta"}))
    );
    let (s, b) = curl(
        "PUT",
        &format!("{base}/usermeta/delete?key=newkey"),
        None,
        None,
    );
    assert_eq!((s, j(&b)), (200, json!({})));
    let (s, b) = curl(
        "PUT",
        &format!("{base}/usermeta/delete?key=newkey"),
        None,
        None,
    );
    assert_eq!(s, 404, "{b}");
    let (s, _) = curl(
        "POST",
        &format!("{base}/usermeta/save?key=a/b"),
        Some("x"),
        None,
    );
    assert_eq!(s, 400);

    let (s, b) = curl("POST", &format!("{base}/abort"), None, None);
    assert_eq!((s, j(&b)["transaction"].clone()), (400, Value::Null));
    curl("POST", &format!("{base}/begin?empty=true"), None, None);
    let (s, b) = curl("POST", &format!("{base}/abort"), None, None);
    assert_eq!((s, j(&b)), (200, json!({})));

    // wrong methods and names
    assert_eq!(curl("GET", &format!("{base}/commit"), None, None).0, 405);
    assert_eq!(curl("GET", &format!("{base}/nothing"), None, None).0, 404);
}

#[test]
fn bad_packages_leave_the_transaction_as_it_was() {
    if !pv_testkit::require_tool("curl") {
        return;
    }
    let (dev, _lan, base) = start(None);
    let d = tempfile::tempdir().unwrap();
    curl("POST", &format!("{base}/begin?empty=true"), None, None);
    let not_state = d.path().join("x.json");
    std::fs::write(&not_state, "[1,2]").unwrap();
    let (s, b) = curl(
        "PUT",
        &format!("{base}/add"),
        Some(&format!("@{}", not_state.display())),
        None,
    );
    assert_eq!(s, 400, "{b}");
    // an object that does not hash to its name
    let pkg = d.path().join("bad.tgz");
    let sha = pv_types::ObjectId::of(b"right").to_hex();
    let mut b = tar::Builder::new(vec![]);
    for (name, data) in [
        (
            "json".to_string(),
            json!({"#spec": "pantavisor-service-system@1", "x/f": sha})
                .to_string()
                .into_bytes(),
        ),
        (format!("objects/{sha}"), b"wrong".to_vec()),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_path(&name).unwrap();
        h.set_cksum();
        b.append(&h, &data[..]).unwrap();
    }
    std::fs::write(&pkg, b.into_inner().unwrap()).unwrap();
    let (s, b) = curl(
        "PUT",
        &format!("{base}/add"),
        Some(&format!("@{}", pkg.display())),
        None,
    );
    assert_eq!(s, 400, "{b}");
    assert!(!dev.objects_dir().join(&sha).exists());
    let (s, b) = curl("GET", &format!("{base}/show"), None, None);
    assert_eq!(
        (s, b.as_str()),
        (200, r##"{"#spec":"pantavisor-service-system@1"}"##)
    );
}

#[test]
fn with_a_token_every_call_needs_it() {
    if !pv_testkit::require_tool("curl") {
        return;
    }
    let (_dev, _lan, base) = start(Some(TOKEN));
    for (m, op) in [
        ("GET", "show"),
        ("POST", "begin?empty=true"),
        ("GET", "get-config"),
    ] {
        assert_eq!(curl(m, &format!("{base}/{op}"), None, None).0, 401, "{op}");
        assert_eq!(
            curl(
                m,
                &format!("{base}/{op}"),
                None,
                Some("wrong-token-0123456789")
            )
            .0,
            401
        );
    }
    let (s, b) = curl(
        "POST",
        &format!("{base}/begin?empty=true"),
        None,
        Some(TOKEN),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        curl("GET", &format!("{base}/show"), None, Some(TOKEN)).0,
        200
    );
}
