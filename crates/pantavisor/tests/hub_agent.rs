//! The hub client through its agent process (`pv-hub-agent`, beside this
//! package's binaries), against a small HTTP server of the test that can
//! hold a download in the middle: calls in flight at once, the agent
//! killed during a call (that call fails as a communication failure, the
//! next starts a new agent, with the same token), the agent gone with its
//! client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::channel;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use pv_hub_proto::{Endpoint, Error, HubAgent, LogOutcome};
use serde_json::json;

/// The blob's size, and how much of it is sent before the gate.
const BLOB: usize = 1 << 20;
const FIRST: usize = 64 << 10;

fn blob_byte(i: usize) -> u8 {
    (i % 251) as u8
}

/// The test's hub: `GET /local-s3/blob` sends [`FIRST`] bytes, then the
/// rest once the gate opens; `POST /auth/login` gives `tok-1`; the poll
/// finds no step; anything else answers `{}`. Each request is recorded as
/// `METHOD PATH AUTHORIZATION`.
struct Server {
    port: u16,
    gate: Arc<(Mutex<bool>, Condvar)>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.open_gate();
    }
}

impl Server {
    fn start() -> Server {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let gate: Arc<(Mutex<bool>, Condvar)> = Arc::default();
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let (g, s) = (gate.clone(), seen.clone());
        std::thread::spawn(move || {
            for c in l.incoming().flatten() {
                let (g, s) = (g.clone(), s.clone());
                std::thread::spawn(move || {
                    let _ = answer(c, &g, &s);
                });
            }
        });
        Server { port, gate, seen }
    }

    fn open_gate(&self) {
        *self.gate.0.lock().unwrap() = true;
        self.gate.1.notify_all();
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn answer(
    c: TcpStream,
    gate: &(Mutex<bool>, Condvar),
    seen: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut rd = BufReader::new(c.try_clone()?);
    let mut line = String::new();
    rd.read_line(&mut line)?;
    let mut words = line.split_whitespace();
    let (method, path) = (
        words.next().unwrap_or("").to_string(),
        words.next().unwrap_or("").to_string(),
    );
    let (mut len, mut auth) = (0usize, String::new());
    loop {
        let mut h = String::new();
        rd.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap_or((h, ""));
        match k.to_ascii_lowercase().as_str() {
            "content-length" => len = v.trim().parse().unwrap_or(0),
            "authorization" => auth = v.trim().to_string(),
            _ => {}
        }
    }
    let mut body = vec![0u8; len];
    rd.read_exact(&mut body)?;
    seen.lock().unwrap().push(format!("{method} {path} {auth}"));
    let mut c = c;
    let reply = |c: &mut TcpStream, body: &str| {
        write!(
            c,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    match (method.as_str(), path.as_str()) {
        ("GET", "/local-s3/blob") => {
            let all: Vec<u8> = (0..BLOB).map(blob_byte).collect();
            write!(
                c,
                "HTTP/1.1 200 OK\r\ncontent-length: {BLOB}\r\nconnection: close\r\n\r\n"
            )?;
            c.write_all(&all[..FIRST])?;
            c.flush()?;
            let mut open = gate.0.lock().unwrap();
            while !*open {
                open = gate.1.wait(open).unwrap();
            }
            drop(open);
            c.write_all(&all[FIRST..])
        }
        ("POST", "/auth/login") => reply(&mut c, r#"{"token":"tok-1"}"#),
        ("GET", p) if p.starts_with("/trails/dev/steps") => reply(&mut c, "[]"),
        _ => reply(&mut c, "{}"),
    }
}

fn agent_for(port: u16, storage: &Path) -> HubAgent {
    HubAgent::new(
        PathBuf::from(env!("CARGO_BIN_EXE_pv-hub-agent")),
        Endpoint {
            host: "http://127.0.0.1".into(),
            port,
            ca_file: None,
            proxy: None,
            user_agent: "hub-agent-test".into(),
            timeout: Duration::from_secs(10),
        },
        storage.to_path_buf(),
    )
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "{what}: not after {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A download of the held blob on its own thread: its result comes on
/// the channel, its bytes in the counter.
fn start_download(
    a: &HubAgent,
    port: u16,
    part: &Path,
) -> (
    std::sync::mpsc::Receiver<pv_hub_proto::Result<u64>>,
    Arc<AtomicU64>,
) {
    let (tx, rx) = channel();
    let bytes = Arc::new(AtomicU64::new(0));
    let (a, b, part) = (a.clone(), bytes.clone(), part.to_path_buf());
    let url = format!("http://127.0.0.1:{port}/local-s3/blob?sig=x");
    std::thread::spawn(move || {
        let r = a.download(&url, 0, &part, &mut |n| {
            b.fetch_add(n, Ordering::Relaxed);
        });
        let _ = tx.send(r);
    });
    (rx, bytes)
}

fn storage() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let s = d.path().join("storage");
    std::fs::create_dir_all(s.join("cache")).unwrap();
    (d, s)
}

/// Within a limit, or the test fails instead of hanging.
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("{what}: held up by the download in flight"))
}

#[test]
fn calls_go_on_while_a_download_is_held() {
    let srv = Server::start();
    let (_d, storage) = storage();
    let a = agent_for(srv.port, &storage);
    let part = storage.join("cache/blob.part");
    let (done, bytes) = start_download(&a, srv.port, &part);
    wait_for("the first bytes", Duration::from_secs(30), || {
        bytes.load(Ordering::Relaxed) > 0
    });
    let b = a.clone();
    within("login", move || b.login("prn", "secret")).unwrap();
    let b = a.clone();
    within("progress", move || {
        b.put_progress("dev", "1", &json!({"status": "DOWNLOADING"}))
    })
    .unwrap();
    let b = a.clone();
    assert_eq!(
        within("logs", move || b.post_logs(&[json!({"msg": "m"})])),
        LogOutcome::Sent
    );
    let b = a.clone();
    assert!(within("poll", move || b.poll("dev")).unwrap().is_none());
    assert!(done.try_recv().is_err(), "the download is still held");
    srv.open_gate();
    let start = done.recv_timeout(Duration::from_secs(60)).unwrap().unwrap();
    assert_eq!(start, 0);
    assert_eq!(bytes.load(Ordering::Relaxed), BLOB as u64);
    let got = std::fs::read(&part).unwrap();
    assert!(
        got.len() == BLOB && got.iter().enumerate().all(|(i, b)| *b == blob_byte(i)),
        "{} bytes",
        got.len()
    );
    assert_eq!(a.failures(), 0);
    let seen = srv.seen();
    assert!(
        seen.contains(&"PUT /trails/dev/steps/1/progress Bearer tok-1".to_string()),
        "{seen:?}"
    );
}

#[test]
fn a_call_during_which_the_agent_is_killed_fails_and_the_next_starts_another() {
    let srv = Server::start();
    let (_d, storage) = storage();
    let a = agent_for(srv.port, &storage);
    a.login("prn", "secret").unwrap();
    let first = a.agent_pid().expect("an agent runs");
    let part = storage.join("cache/blob.part");
    let (done, bytes) = start_download(&a, srv.port, &part);
    wait_for("the first bytes", Duration::from_secs(30), || {
        bytes.load(Ordering::Relaxed) > 0
    });
    kill(Pid::from_raw(first as i32), Signal::SIGKILL).unwrap();
    let e = done
        .recv_timeout(Duration::from_secs(30))
        .expect("the call ends with its agent")
        .unwrap_err();
    assert!(matches!(e, Error::Agent(..)), "{e}");
    assert!(e.is_communication_failure(), "{e}");
    assert_eq!(a.failures(), 1);
    // what the killed agent wrote stays, for a resume
    let have = std::fs::metadata(&part).unwrap().len();
    assert!(have > 0 && have <= FIRST as u64, "{have}");
    // the next call: a new agent, with the token of the first
    assert!(a.poll("dev").unwrap().is_none());
    let second = a.agent_pid().expect("an agent runs");
    assert_ne!(second, first);
    assert_eq!(a.failures(), 1);
    let seen = srv.seen();
    let polls: Vec<_> = seen
        .iter()
        .filter(|s| s.starts_with("GET /trails/dev/steps"))
        .collect();
    assert_eq!(polls.len(), 1, "{seen:?}");
    assert!(polls[0].ends_with(" Bearer tok-1"), "{seen:?}");
    // the new agent appends to the same file
    srv.open_gate();
    let url = format!("http://127.0.0.1:{}/local-s3/blob", srv.port);
    let start = a.download(&url, 0, &part, &mut |_| {}).unwrap();
    assert_eq!(start, 0);
    assert_eq!(std::fs::metadata(&part).unwrap().len(), have + BLOB as u64);
}

#[test]
fn the_agent_ends_with_its_client() {
    let srv = Server::start();
    let (_d, storage) = storage();
    let a = agent_for(srv.port, &storage);
    assert!(a.poll("dev").unwrap().is_none());
    let pid = Pid::from_raw(a.agent_pid().unwrap() as i32);
    let b = a.clone();
    drop(a);
    assert!(kill(pid, None).is_ok(), "a clone still holds it");
    drop(b);
    wait_for("the agent to end", Duration::from_secs(30), || {
        kill(pid, None).is_err()
    });
}
