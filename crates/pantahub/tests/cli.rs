//! The command line: users, join tokens, certificates, and a server that
//! answers and stops cleanly on SIGTERM.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::pantahub;

fn get(addr: &str, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn users_tokens_certs_and_a_clean_sigterm() {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("data");
    let d = data.to_str().unwrap();
    let out = pantahub(&[
        "user",
        "add",
        "--data",
        d,
        "--nick",
        "user1",
        "--email",
        "u@example.com",
        "--password",
        "pw",
    ]);
    assert!(out.starts_with("user1 prn:::accounts:/"), "{out}");
    let o = Command::new(env!("CARGO_BIN_EXE_pantahub"))
        .args([
            "user",
            "add",
            "--data",
            d,
            "--nick",
            "user1",
            "--email",
            "x@example.com",
            "--password",
            "pw",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success(), "a taken nick is refused");
    let list = pantahub(&["user", "list", "--data", d]);
    assert!(list.contains("user1\tu@example.com\tprn:::accounts:/") && list.contains("verified"));
    let tok = pantahub(&[
        "token",
        "--data",
        d,
        "--user",
        "user1",
        "--default-user-meta",
        r#"{"k":"v"}"#,
    ]);
    assert_eq!(tok.trim().len(), 32, "base64 of 24 bytes: {tok}");
    let certs = t.path().join("tls");
    pantahub(&[
        "cert",
        "--out",
        certs.to_str().unwrap(),
        "--host",
        "localhost",
        "--host",
        "hub.lan",
    ]);
    assert!(fs_text(&certs.join("cert.pem")).contains("BEGIN CERTIFICATE"));
    assert!(fs_text(&certs.join("key.pem")).contains("PRIVATE KEY"));

    let addr = format!("127.0.0.1:{}", pv_testkit::free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_pantahub"))
        .args(["serve", "--data", d, "--listen", &addr])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let health = loop {
        if let Some(r) = get(&addr, "/healthz") {
            break r;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the hub did not come up"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(health.starts_with("HTTP/1.0 200"), "{health}");
    let r = get(&addr, "/devices/").unwrap();
    assert!(r.contains("ph-aeps=\"http://"), "{r}");
    // the keys made on first start are reused
    let key = fs_text(&data.join("jwt-rsa.pem"));
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit after SIGTERM: {status}");
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("GET /healthz 200"), "{log}");
    assert!(log.contains("pantahub stopped"), "{log}");
    pantahub(&["user", "list", "--data", d]);
    assert_eq!(fs_text(&data.join("jwt-rsa.pem")), key);
}

fn fs_text(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}
