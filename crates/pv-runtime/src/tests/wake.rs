//! The main loop's pause between ticks is a wait on the control socket: a
//! command ends it, so that it is acted on at once; a read is answered
//! without ending it.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::rig::{Rev, Rig};

/// One request on the control socket from another thread; its status.
fn request(
    socket: PathBuf,
    method: &'static str,
    path: &'static str,
    body: &'static str,
) -> std::thread::JoinHandle<u16> {
    std::thread::spawn(move || {
        let mut s = UnixStream::connect(socket).expect("connect");
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(head.as_bytes()).expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        out.split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    })
}

#[test]
fn a_command_ends_the_wait_and_the_next_tick_runs_it() {
    let rig = Rig::with_factory(&Rev::default());
    let mut dev = rig.boot();
    rig.ticks(&mut dev, 3);
    rig.stage("locals/u", &Rev::default().with_image("app", "v2"));
    let socket = rig.opts.rundir.join("pv-ctrl");

    // a read is answered during the wait, which goes on to its end
    let read = request(socket.clone(), "GET", "/containers", "");
    let pause = Duration::from_millis(300);
    let t = Instant::now();
    dev.wait_ctrl(pause);
    assert!(t.elapsed() >= pause);
    assert_eq!(read.join().unwrap(), 200);

    // a command ends a wait that would otherwise last ten minutes
    let cmd = request(
        socket,
        "POST",
        "/commands",
        r#"{"op":"LOCAL_RUN","payload":"locals/u"}"#,
    );
    let long = Duration::from_secs(600);
    let t = Instant::now();
    dev.wait_ctrl(long);
    assert!(t.elapsed() < long);
    assert_eq!(cmd.join().unwrap(), 200);
    assert_eq!(rig.progress("locals/u").0, "NEW", "admitted, not yet run");
    assert!(dev.tick().is_none());
    let status = rig.progress("locals/u").0;
    assert!(
        ["INPROGRESS", "TESTING"].contains(&status.as_str()),
        "{status}"
    );
    assert_eq!(
        dev.update.as_ref().map(|u| u.rev.as_str()),
        Some("locals/u")
    );
}
