//! The same exchanges with curl, as the pvtest suite makes them (needs
//! curl: pv_testkit decides).

mod common;

use std::process::Command;

use common::sha;
use pv_ctrl::testing::{pid_resolver, FakeDevice};
use pv_ctrl::Caller;

fn curl(d: &FakeDevice, args: &[&str]) -> (String, String) {
    let o = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "--unix-socket"])
        .arg(d.socket())
        .args(args)
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (body.to_string(), code.to_string())
}

#[test]
fn curl_sees_the_same_bytes() {
    if !pv_testkit::require_tool("curl") {
        return;
    }
    let d = FakeDevice::start(pid_resolver(vec![], Caller::Host));
    let (body, code) = curl(&d, &["http://localhost/nope"]);
    assert_eq!(
        (body.as_str(), code.as_str()),
        (r#"{"Error":"unknown endpoint: /nope"}"#, "400")
    );
    let (body, code) = curl(&d, &["-X", "GET", "http://localhost/groups"]);
    assert_eq!(code, "200");
    assert!(body.starts_with(r#"[{"name":"app""#));
    let (_, code) = curl(
        &d,
        &[
            "-X",
            "POST",
            "--header",
            "Content-Type: application/json",
            "--data",
            r#"{"op":"RUN_GC","payload":""}"#,
            "http://localhost/commands",
        ],
    );
    assert_eq!(code, "200");

    // a 2 MiB upload (curl asks for 100-continue) and its download
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..2 * 1024 * 1024u32).map(|i| (i % 241) as u8).collect();
    let file = dir.path().join("obj");
    std::fs::write(&file, &data).unwrap();
    let url = format!("http://localhost/objects/{}", sha(&data));
    let (body, code) = curl(
        &d,
        &["-X", "PUT", "--upload-file", file.to_str().unwrap(), &url],
    );
    assert_eq!((body.as_str(), code.as_str()), ("", "200"));
    let copy = dir.path().join("copy");
    let (_, code) = curl(&d, &["-o", copy.to_str().unwrap(), &url]);
    assert_eq!(code, "200");
    assert!(std::fs::read(&copy).unwrap() == data);
    let bad = format!("http://localhost/objects/{}", sha(b"x"));
    let (body, code) = curl(
        &d,
        &["-X", "PUT", "--upload-file", file.to_str().unwrap(), &bad],
    );
    assert_eq!(
        (body.as_str(), code.as_str()),
        (r#"{"Error":"Object has bad checksum"}"#, "422")
    );
}
