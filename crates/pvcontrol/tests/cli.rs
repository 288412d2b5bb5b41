//! The `pvcontrol` binary against the real pv-ctrl server (fake owner).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use pv_ctrl::testing::{app, pid_resolver, FakeDevice};
use pv_ctrl::Caller;

fn pvcontrol(socket: &Path, args: &[&str]) -> Output {
    let mut all = vec!["-s", socket.to_str().unwrap()];
    all.extend_from_slice(args);
    Command::new(env!("CARGO_BIN_EXE_pvcontrol"))
        .args(&all)
        .env_remove("PVCONTROL_SOCKET")
        .output()
        .expect("run pvcontrol")
}

fn out(o: &Output) -> (i32, String, String) {
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn run(d: &FakeDevice, args: &[&str]) -> (i32, String, String) {
    out(&pvcontrol(&d.socket(), args))
}

fn host() -> FakeDevice {
    FakeDevice::start(pid_resolver(vec![], Caller::Host))
}

fn sha(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

#[test]
fn listings_print_the_body_and_one_newline() {
    let d = host();
    let (code, stdout, _) = run(&d, &["ls"]);
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with(r#"[{"name":"M","group":"platform""#),
        "{stdout}"
    );
    assert!(stdout.ends_with("}]\n"));
    assert_eq!(run(&d, &["containers", "ls"]).1, stdout);
    assert_eq!(
        run(&d, &["groups", "ls"]).1,
        "[{\"name\":\"app\",\"status_goal\":\"STARTED\",\"restart_policy\":\"container\",\"status\":\"READY\"}]\n"
    );
    assert_eq!(run(&d, &["graph", "ls"]).1, "[]\n");
    assert_eq!(run(&d, &["buildinfo"]).1, "pantavisor: test build\n");
    assert_eq!(run(&d, &["config", "ls"]).1, "{\"log.level\":0}\n");
    assert!(run(&d, &["conf", "ls"])
        .1
        .contains("\"key\":\"PV_LOG_LEVEL\""));
    assert_eq!(
        run(&d, &["devmeta", "ls"]).1,
        "{\"pantavisor.revision\":\"0\",\"pantavisor.status\":\"READY\",\"pantavisor.mode\":\"local\"}\n"
    );
    // -j: verbatim
    assert_eq!(run(&d, &["-j", "graph", "ls"]).1, "[]");
}

#[test]
fn metadata_and_errors() {
    let d = host();
    assert_eq!(
        run(&d, &["usrmeta", "save", "k", "v"]),
        (0, "\n".into(), String::new())
    );
    assert_eq!(run(&d, &["usrmeta", "ls"]).1, "{\"k\":\"v\"}\n");
    assert_eq!(
        run(&d, &["usrmeta", "delete", "nope"]),
        (
            255,
            String::new(),
            "{\"Error\":\"User meta does not exist\"}\n".into()
        )
    );
    assert_eq!(run(&d, &["usrmeta", "delete", "k"]).0, 0);
    assert_eq!(run(&d, &["devmeta", "save", "foo.bar", "x"]).0, 0);
    assert_eq!(run(&d, &["usrmeta", "save", "empty"]).0, 255);
}

#[test]
fn commands_busy_and_refused() {
    let d = host();
    assert_eq!(run(&d, &["cmd", "run-gc"]), (0, "\n".into(), String::new()));
    let (code, _, stderr) = run(&d, &["cmd", "enable-ssh"]);
    assert_eq!(code, 75);
    assert_eq!(
        stderr,
        "{\"Error\":\"A command is already in progress. Try again\"}\n"
    );
    d.tick();
    assert_eq!(run(&d, &["cmd", "reboot", "bye \"now\""]).0, 0);
    let slot = d.tick().unwrap();
    assert_eq!(slot.payload, "bye \"now\"");
    assert_eq!(run(&d, &["cmd", "go-remote"]).0, 255);
    assert_eq!(run(&d, &["cmd", "local-run", "locals/t1"]).0, 0);
    assert_eq!(d.tick().unwrap().op, pv_ctrl::CommandOp::LocalRun);
    // the host has no status goal
    let (code, _, stderr) = run(&d, &["signal", "ready"]);
    assert_eq!(
        (code, stderr.as_str()),
        (
            255,
            "{\"Error\":\"Signal not expected from this platform\"}\n"
        )
    );
}

#[test]
fn containers_and_daemons() {
    let d = host();
    assert_eq!(run(&d, &["containers", "stop", "A"]).0, 0);
    assert!(run(&d, &["ls"]).1.contains("\"user_stopped\":\"true\""));
    assert_eq!(run(&d, &["containers", "start", "A"]).0, 0);
    assert_eq!(run(&d, &["containers", "restart", "M"]).0, 255);
    assert_eq!(
        run(&d, &["daemons", "get", "pv-xconnect"]).1,
        "{\"name\":\"pv-xconnect\",\"pid\":4242,\"respawn\":true}\n"
    );
    assert_eq!(run(&d, &["daemons", "stop", "pv-xconnect"]).0, 0);
    assert!(run(&d, &["daemons", "ls"])
        .1
        .contains("\"pid\":-1,\"respawn\":false"));
    assert_eq!(run(&d, &["daemons", "restart", "pv-xconnect"]).0, 0);
    assert_eq!(
        run(&d, &["daemons", "get", "pv-xconnect"]).1,
        "{\"name\":\"pv-xconnect\",\"pid\":4343,\"respawn\":true}\n"
    );
    let (code, _, stderr) = run(&d, &["daemons", "get", "nope"]);
    assert_eq!(
        (code, stderr.as_str()),
        (255, "{\"Error\":\"Daemon not found\"}\n")
    );
    assert_eq!(run(&d, &["daemons", "start", "nope"]).0, 255);
}

#[test]
fn objects_put_get_and_bad_checksum() {
    let d = host();
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let file = dir.path().join("obj");
    std::fs::write(&file, &data).unwrap();
    let f = file.to_str().unwrap();
    assert_eq!(run(&d, &["objects", "put", f, &sha(&data)]).0, 0);
    let (code, _, stderr) = run(&d, &["objects", "put", f, &sha(b"other")]);
    assert_eq!(
        (code, stderr.as_str()),
        (60, "{\"Error\":\"Object has bad checksum\"}\n")
    );
    let o = pvcontrol(&d.socket(), &["objects", "get", &sha(&data)]);
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout == data);
    assert_eq!(
        run(&d, &["objects", "ls"]).1,
        format!(
            "[{{\"sha256\":\"{}\",\"size\":\"{}\"}}]\n",
            sha(&data),
            data.len()
        )
    );
    // -f writes the output to a file; '-' uploads stdin
    let copy = dir.path().join("copy");
    let o = pvcontrol(
        &d.socket(),
        &["-f", copy.to_str().unwrap(), "objects", "get", &sha(&data)],
    );
    assert!(o.status.success() && o.stdout.is_empty());
    assert!(std::fs::read(&copy).unwrap() == data);
    let mut child = Command::new(env!("CARGO_BIN_EXE_pvcontrol"))
        .args([
            "-s",
            d.socket().to_str().unwrap(),
            "objects",
            "put",
            "-",
            &sha(b"from stdin"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from stdin")
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert!(d.objects_dir().join(sha(b"from stdin")).is_file());
}

#[test]
fn steps_put_show_and_install() {
    let d = host();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("json");
    std::fs::write(&json, "{\"#spec\":\"pantavisor-service-system@1\"}").unwrap();
    let j = json.to_str().unwrap();
    assert_eq!(
        run(&d, &["-m", "my message", "steps", "put", j, "locals/t1"]).0,
        0
    );
    let (_, steps, _) = run(&d, &["steps", "ls"]);
    assert!(
        steps.contains(
            "\"name\":\"locals/t1\",\"date\":\"2026-07-01T10:00:00Z\",\"commitmsg\":\"my message\""
        ),
        "{steps}"
    );
    assert_eq!(
        run(&d, &["steps", "show-progress", "locals/t1"]).1,
        "{\"status\":\"NEW\",\"status-msg\":\"Update ready to be run\",\"progress\":0}\n"
    );
    assert_eq!(
        run(&d, &["steps", "show-progress", "current"]).1,
        "{\"status\":\"DONE\",\"status-msg\":\"Factory revision\",\"progress\":100,\"retries\":0}\n"
    );
    assert_eq!(
        run(&d, &["steps", "get", "0"]).1,
        "{\"#spec\":\"pantavisor-service-system@1\"}\n"
    );
    let bad = dir.path().join("bad");
    std::fs::write(&bad, "not json").unwrap();
    assert_eq!(
        run(&d, &["steps", "put", bad.to_str().unwrap(), "locals/t2"]).0,
        255
    );
    assert_eq!(run(&d, &["steps", "get", "nope"]).0, 255);

    // a tarball with json + objects/
    let obj = b"an object in a tarball";
    let tgz = dir.path().join("step.tgz");
    let state = format!(
        "{{\"#spec\":\"pantavisor-service-system@1\",\"x/f\":\"{}\"}}",
        sha(obj)
    );
    write_tgz(
        &tgz,
        &[
            ("json", state.as_bytes()),
            (&format!("objects/{}", sha(obj)), obj),
        ],
    );
    let tgz_s = tgz.to_str().unwrap();
    let (code, stdout, stderr) = run(&d, &["steps", "install", tgz_s, "locals/tar"]);
    assert_eq!(
        (code, stdout.as_str()),
        (0, "{\"revision\":\"locals/tar\"}\n"),
        "{stderr}"
    );
    assert!(d.objects_dir().join(sha(obj)).is_file());
    let (code, stdout, _) = run(&d, &["steps", "install", tgz_s]);
    assert_eq!(code, 0);
    let tgz_sha = sha(&std::fs::read(&tgz).unwrap());
    assert_eq!(stdout, format!("{{\"revision\":\"locals/{tgz_sha}\"}}\n"));
    assert!(d
        .storage()
        .join("trails/locals")
        .join(tgz_sha)
        .join(".pvr/json")
        .is_file());
}

/// Tar members: name and content.
type Members<'a> = &'a [(&'a str, &'a [u8])];

fn write_tgz(path: &Path, members: Members<'_>) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::default(),
    );
    let mut t = tar::Builder::new(gz);
    for (name, data) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        t.append_data(&mut h, name, *data).unwrap();
    }
    t.into_inner().unwrap().finish().unwrap();
}

#[test]
fn install_refuses_a_tarball_the_export_reader_refuses() {
    let d = host();
    let dir = tempfile::tempdir().unwrap();
    let json: &[u8] = b"{\"#spec\":\"pantavisor-service-system@1\"}";
    let obj = b"right bytes";
    let name = format!("objects/{}", sha(obj));
    let cases: [(Members<'_>, &str); 3] = [
        (&[("json", json), ("etc/passwd", b"x")], "unexpected member"),
        (&[("json", json), (&name, b"wrong bytes")], "wrong sha"),
        (&[(&name, obj)], "no json member"),
    ];
    for (i, (members, needle)) in cases.into_iter().enumerate() {
        let tgz = dir.path().join(format!("bad{i}.tgz"));
        write_tgz(&tgz, members);
        let (code, stdout, _) = run(&d, &["steps", "install", tgz.to_str().unwrap(), "locals/b"]);
        assert_eq!(code, 1, "{stdout}");
        assert!(
            stdout.starts_with("ERROR: wrong contents of compressed step: ")
                && stdout.contains(needle),
            "{stdout} lacks {needle}"
        );
        assert!(!d.objects_dir().join(sha(obj)).exists());
        assert!(!run(&d, &["steps", "ls"]).1.contains("locals/b"));
    }
}

#[test]
fn non_mgmt_caller_is_refused() {
    let d = FakeDevice::start(pid_resolver(vec![], app("A")));
    let (code, stdout, stderr) = run(&d, &["ls"]);
    assert_eq!(code, 255);
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        "{\"Error\":\"Request not sent from a mgmt platform\"}\n"
    );
}

#[test]
fn socket_missing_refused_and_env() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("pv-ctrl");
    let (code, stdout, _) = out(&pvcontrol(&missing, &["ls"]));
    assert_eq!(
        (code, stdout),
        (1, format!("ERROR: {} not found\n", missing.display()))
    );
    // a socket file nobody listens on
    drop(std::os::unix::net::UnixListener::bind(&missing).unwrap());
    let (code, _, stderr) = out(&pvcontrol(&missing, &["ls"]));
    assert_eq!(code, 255);
    assert!(stderr.starts_with("ERROR: cannot connect to"), "{stderr}");

    let d = host();
    let o = Command::new(env!("CARGO_BIN_EXE_pvcontrol"))
        .args(["-v", "graph", "ls"])
        .env("PVCONTROL_SOCKET", d.socket())
        .output()
        .unwrap();
    let (code, stdout, stderr) = out(&o);
    assert_eq!((code, stdout.as_str()), (0, "[]\n"));
    assert!(
        stderr.contains("> GET /xconnect-graph HTTP/1.1"),
        "{stderr}"
    );
    assert!(stderr.contains("< HTTP/1.1 200"), "{stderr}");
}

#[test]
fn usage() {
    let d = host();
    let (code, stdout, _) = run(&d, &["-h"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("usage: pvcontrol"));
    assert_eq!(run(&d, &[]).0, 1);
    assert_eq!(run(&d, &["steps", "--help"]).0, 0);
    assert_eq!(run(&d, &["objects", "get"]).0, 1);
    assert_eq!(run(&d, &["frobnicate"]).0, 1);
}
