//! The two sockets, end to end: every message format on `pv-ctrl-log`,
//! fd passing on `pv-fd-log`, bad input, commands, and stopping.

mod common;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{send, wait_for, wait_until, Env};
use pv_logs::fd_protocol;
use pv_logs::proto_binary::{encode_command, encode_legacy, Command};
use pv_logs::{Level, LogServer, PlatformResolver};

#[test]
fn legacy_binary_message_names_its_own_platform() {
    let env = Env::new("filetree");
    let server = env.start();
    send(
        &server,
        &encode_legacy(Level::Info, "web", "lxc/lxc.log", b"started\n"),
    );
    let got = wait_for(&env.logs().join("0/web/lxc/lxc.log"), |s| !s.is_empty());
    assert_eq!(got, "started\n");
    server.stop().unwrap();
}

#[test]
fn several_binary_messages_on_one_connection() {
    let env = Env::new("filetree");
    let server = env.start();
    let mut bytes = encode_legacy(Level::Info, "web", "out", b"a\n");
    bytes.extend(encode_legacy(Level::Info, "web", "out", b"b\n"));
    send(&server, &bytes);
    wait_for(&env.logs().join("0/web/out"), |s| s == "a\nb\n");
}

#[test]
fn text_formats_take_the_senders_platform() {
    let env = Env::new("filetree");
    let server = env.start_as(Some("A"));
    send(
        &server,
        b"<11>1 2024-01-01T00:00:00Z host rfc5424app 1 - - five four two four\n",
    );
    send(
        &server,
        b"<14>Jan  2 03:04:05 host rfc3164app[7]: three one six four",
    );
    send(
        &server,
        br#"{"version":"0","level":"INFO","src":"jsonsrc","message":"from json"}"#,
    );
    send(&server, b"level=WARN src=kvsrc message=\"from kv\"\n");
    let base = env.logs().join("0/A");
    assert_eq!(
        wait_for(&base.join("rfc5424app"), |s| !s.is_empty()),
        "five four two four\n"
    );
    assert_eq!(
        wait_for(&base.join("rfc3164app"), |s| !s.is_empty()),
        "three one six four\n"
    );
    assert_eq!(
        wait_for(&base.join("jsonsrc"), |s| !s.is_empty()),
        "from json\n"
    );
    assert_eq!(
        wait_for(&base.join("kvsrc"), |s| !s.is_empty()),
        "from kv\n"
    );
}

#[test]
fn unknown_sender_gets_unknown_platform() {
    let env = Env::new("filetree");
    let server = env.start_as(None);
    send(&server, b"level=INFO src=s message=m\n");
    wait_for(&env.logs().join("0/unknown-platform/s"), |s| s == "m\n");
}

#[test]
fn resolver_is_asked_about_the_peer_pid() {
    struct Recorder(Mutex<Vec<u32>>);
    impl PlatformResolver for Recorder {
        fn platform_of(&self, pid: u32) -> Option<String> {
            self.0.lock().unwrap().push(pid);
            Some("rec".into())
        }
    }
    let env = Env::new("filetree");
    let rec = Arc::new(Recorder(Mutex::new(Vec::new())));
    let server = LogServer::start_with_resolver(env.cfg.clone(), rec.clone()).unwrap();
    send(&server, b"level=INFO src=s message=m\n");
    wait_for(&env.logs().join("0/rec/s"), |s| s == "m\n");
    assert_eq!(rec.0.lock().unwrap()[0], std::process::id());
}

#[test]
fn a_message_without_terminator_is_taken_after_a_pause() {
    let env = Env::new("filetree");
    let server = env.start();
    let mut conn = UnixStream::connect(server.ctrl_socket()).unwrap();
    conn.write_all(b"level=INFO src=pause message=kept-open")
        .unwrap();
    wait_for(&env.logs().join("0/app1/pause"), |s| s == "kept-open\n");
    conn.write_all(b"level=INFO src=pause message=second\n")
        .unwrap();
    wait_for(&env.logs().join("0/app1/pause"), |s| {
        s == "kept-open\nsecond\n"
    });
}

#[test]
fn malformed_input_is_dropped_and_the_server_goes_on() {
    let env = Env::new("filetree");
    let server = env.start();
    send(&server, b"this is not a log message\n");
    send(&server, &[0, 9, 9, 9, 1, 0, 0, 0, 42]);
    send(
        &server,
        br#"{"version":"7","level":"INFO","src":"s","message":"m"}"#,
    );
    send(&server, &encode_legacy(Level::Info, "p", "s", b"x")[..11]);
    send(&server, b"level=INFO src=after message=still-alive\n");
    wait_for(&env.logs().join("0/app1/after"), |s| s == "still-alive\n");
    let pv = wait_for(&env.logs().join("0/pantavisor/pantavisor.log"), |s| {
        s.matches("dropped invalid log message").count() >= 4
    });
    assert!(
        pv.contains("WARN\t -- [logserver]: dropped invalid log message from app1"),
        "{pv}"
    );
    assert!(server.handle().is_running());
}

#[test]
fn fd_subscription_over_the_socket_with_a_real_pipe() {
    let env = Env::new("filetree");
    let server = env.start();
    let (r1, w1) = rustix::pipe::pipe().unwrap();
    fd_protocol::subscribe(
        server.fd_socket(),
        "web",
        "lxc/console.log",
        Level::Info,
        &r1,
    )
    .unwrap();
    drop(r1);
    let path = env.logs().join("0/web/lxc/console.log");
    let mut w1 = std::fs::File::from(w1);
    w1.write_all(b"boot line 1\n").unwrap();
    wait_for(&path, |s| s == "boot line 1\n");

    // a second subscription for the same pair replaces the first
    let (r2, w2) = rustix::pipe::pipe().unwrap();
    fd_protocol::subscribe(
        server.fd_socket(),
        "web",
        "lxc/console.log",
        Level::Info,
        &r2,
    )
    .unwrap();
    drop(r2);
    let mut w2 = std::fs::File::from(w2);
    w2.write_all(b"from second pipe\n").unwrap();
    wait_for(&path, |s| s.ends_with("from second pipe\n"));
    wait_until("first pipe closed by the server", || {
        (&w1).write_all(b"lost\n").is_err()
    });

    // unsubscribe closes the reading end too
    fd_protocol::unsubscribe(server.fd_socket(), "web", "lxc/console.log").unwrap();
    wait_until("second pipe closed by the server", || {
        (&w2).write_all(b"lost\n").is_err()
    });
}

#[test]
fn fd_subscription_from_inside_the_process() {
    let env = Env::new("filetree");
    let server = env.start();
    let h = server.handle();
    let (r, w) = rustix::pipe::pipe().unwrap();
    h.subscribe_fd("daemon", "xconnect-out", Level::Info, r)
        .unwrap();
    let mut w = std::fs::File::from(w);
    w.write_all(b"partial ").unwrap();
    w.write_all(b"line\n").unwrap();
    let path = env.logs().join("0/daemon/xconnect-out");
    wait_for(&path, |s| s == "partial line\n");
    drop(w);
    // end of file ends the subscription
    wait_until("subscription gone", || {
        !h.unsubscribe_fd("daemon", "xconnect-out")
    });
    server.stop().unwrap();
    let (r, _w) = rustix::pipe::pipe().unwrap();
    assert!(h.subscribe_fd("daemon", "x", Level::Info, r).is_err());
}

#[test]
fn commands_only_from_the_authorized_pid() {
    let mut env = Env::new("filetree");
    env.cfg.command_pid = Some(1);
    let server = env.start();
    send(&server, &encode_command(&Command::StartUpdate("9".into())));
    wait_for(&env.logs().join("0/pantavisor/pantavisor.log"), |s| {
        s.contains("command from pid") && s.contains("refused")
    });
    server.handle().log(Level::Error, "pantavisor", "x", "boom");
    assert!(server.handle().flush(Duration::from_secs(5)));
    assert!(!env.storage().join("trails/9/.pv/logs.tmp").exists());
}

#[test]
fn update_commands_over_the_socket() {
    let env = Env::new("filetree");
    let server = env.start();
    send(&server, &encode_command(&Command::StartUpdate("5".into())));
    let tmp = env.storage().join("trails/5/.pv/logs.tmp");
    wait_until("update sink started", || {
        server
            .handle()
            .log(Level::Error, "pantavisor", "controller", "failed");
        server.handle().flush(Duration::from_secs(5));
        tmp.exists()
    });
    send(&server, &encode_command(&Command::StopUpdate));
    let logs = env.storage().join("trails/5/.pv/logs");
    wait_for(&logs, |s| s.contains("\"msg\":\"failed\""));
    assert!(!tmp.exists());
}

#[test]
fn exit_command_stops_serving() {
    let env = Env::new("filetree");
    let server = env.start();
    send(&server, &encode_command(&Command::Exit));
    let sock = server.ctrl_socket().to_path_buf();
    wait_until("socket removed", || !sock.exists());
    server.stop().unwrap();
}

#[test]
fn stop_joins_and_removes_the_sockets() {
    let env = Env::new("filetree,stdout_direct");
    let server = env.start();
    let h = server.handle();
    let (ctrl, fd) = (
        server.ctrl_socket().to_path_buf(),
        server.fd_socket().to_path_buf(),
    );
    assert!(ctrl.exists() && fd.exists());
    let (r, _w) = rustix::pipe::pipe().unwrap();
    h.subscribe_fd("p", "s", Level::Info, r).unwrap();
    let mut open_conn = UnixStream::connect(&ctrl).unwrap();
    open_conn
        .write_all(b"level=INFO src=s message=pending")
        .unwrap();
    h.log(Level::Info, "pantavisor", "main", "before stop");
    server.stop().unwrap();
    assert!(!ctrl.exists() && !fd.exists());
    assert!(UnixStream::connect(&ctrl).is_err());
    assert!(!h.is_running());
    h.log(Level::Info, "pantavisor", "main", "after stop is harmless");
    let pv = std::fs::read_to_string(env.logs().join("0/pantavisor/pantavisor.log")).unwrap();
    assert!(pv.contains("before stop"));
}

#[test]
fn a_second_server_replaces_stale_socket_files() {
    let env = Env::new("filetree");
    std::fs::create_dir_all(&env.cfg.run_dir).unwrap();
    std::fs::write(env.cfg.run_dir.join("pv-ctrl-log"), "stale").unwrap();
    let server = env.start();
    send(&server, b"level=INFO src=s message=m\n");
    wait_for(&env.logs().join("0/app1/s"), |s| s == "m\n");
}
