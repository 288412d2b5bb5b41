//! The unix and rest proxies of an xconnect link against a direct Unix
//! socket connection, measured in the same run (run by
//! `bench/xconnect.sh`). This process stands in for both containers
//! (its own pid), so the links go through the same code as on a device:
//! `/proc/<pid>/root` lookups, the listener, the per-connection relays.
//!
//! Prints, for each proxy: p50 round-trip latency (direct, proxied, added)
//! and one-way throughput (direct, proxied, ratio).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

use pv_xconnect::link::Active;
use pv_xconnect::Link;

const ROUND_TRIPS: usize = 20_000;
const BULK: u64 = 2 << 30;

fn link(d: &Path, kind: &str, socket: &Path) -> Link {
    let me = std::process::id() as i32;
    Link {
        consumer: "bench".into(),
        consumer_pid: me,
        provider: "bench".into(),
        provider_pid: me,
        name: kind.into(),
        kind: kind.into(),
        role: "any".into(),
        interface: kind.into(),
        target: d
            .join(format!("{kind}-proxy.sock"))
            .to_str()
            .unwrap()
            .into(),
        socket: socket.to_str().unwrap().into(),
        owns: None,
        allow: None,
    }
}

/// Echo server: answers every read with the same bytes; a connection that
/// starts with "BULK" is drained instead.
fn echo_server(path: &Path) {
    let l = UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        for c in l.incoming().map_while(Result::ok) {
            std::thread::spawn(move || {
                let mut c = c;
                let mut buf = vec![0u8; 256 * 1024];
                let mut first = true;
                let mut bulk = false;
                loop {
                    let n = match c.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if first {
                        bulk = buf.starts_with(b"BULK");
                        first = false;
                    }
                    if !bulk && c.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
}

/// HTTP server: answers each request (its body drained) with "ok".
fn http_server(path: &Path) {
    let l = UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        for c in l.incoming().map_while(Result::ok) {
            std::thread::spawn(move || {
                let mut r = BufReader::with_capacity(256 * 1024, c.try_clone().unwrap());
                let mut w = c;
                loop {
                    let mut len = 0u64;
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        line.clear();
                        r.read_line(&mut line).unwrap();
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.strip_prefix("Content-Length: ") {
                            len = v.trim().parse().unwrap();
                        }
                    }
                    std::io::copy(&mut (&mut r).take(len), &mut std::io::sink()).unwrap();
                    if w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
}

fn p50(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn echo_latency(path: &Path) -> Duration {
    let mut c = UnixStream::connect(path).unwrap();
    let msg = [7u8; 64];
    let mut back = [0u8; 64];
    let mut t = Vec::with_capacity(ROUND_TRIPS);
    for _ in 0..ROUND_TRIPS {
        let t0 = Instant::now();
        c.write_all(&msg).unwrap();
        c.read_exact(&mut back).unwrap();
        t.push(t0.elapsed());
    }
    p50(t)
}

fn echo_throughput(path: &Path) -> f64 {
    let mut c = UnixStream::connect(path).unwrap();
    c.write_all(b"BULK").unwrap();
    let buf = vec![1u8; 256 * 1024];
    let t0 = Instant::now();
    let mut sent = 0u64;
    while sent < BULK {
        c.write_all(&buf).unwrap();
        sent += buf.len() as u64;
    }
    // the end is seen once the server drained everything
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = vec![];
    let _ = c.read_to_end(&mut rest);
    sent as f64 / t0.elapsed().as_secs_f64() / 1e6
}

fn http_latency(path: &Path) -> Duration {
    let c = UnixStream::connect(path).unwrap();
    let mut r = BufReader::new(c.try_clone().unwrap());
    let mut w = c;
    let mut t = Vec::with_capacity(ROUND_TRIPS);
    let mut line = String::new();
    for _ in 0..ROUND_TRIPS {
        let t0 = Instant::now();
        w.write_all(b"GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
        }
        let mut ok = [0u8; 2];
        r.read_exact(&mut ok).unwrap();
        t.push(t0.elapsed());
    }
    p50(t)
}

fn http_throughput(path: &Path) -> f64 {
    let c = UnixStream::connect(path).unwrap();
    let mut r = BufReader::new(c.try_clone().unwrap());
    let mut w = c;
    let body = vec![b'x'; 16 << 20];
    let n = BULK / body.len() as u64;
    let t0 = Instant::now();
    let mut line = String::new();
    for _ in 0..n {
        write!(
            w,
            "POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .unwrap();
        w.write_all(&body).unwrap();
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
        }
        let mut ok = [0u8; 2];
        r.read_exact(&mut ok).unwrap();
    }
    (n * body.len() as u64) as f64 / t0.elapsed().as_secs_f64() / 1e6
}

fn report(kind: &str, lat: (Duration, Duration), thr: (f64, f64)) {
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "{kind}: p50 round trip direct {:.1} us, proxied {:.1} us, added {:.1} us (target < 50)",
        us(lat.0),
        us(lat.1),
        us(lat.1) - us(lat.0)
    );
    println!(
        "{kind}: throughput direct {:.0} MB/s, proxied {:.0} MB/s, ratio {:.2} (target >= 0.8)",
        thr.0,
        thr.1,
        thr.1 / thr.0
    );
}

fn main() {
    let d = tempfile::tempdir().unwrap();
    let echo = d.path().join("echo.sock");
    let http = d.path().join("http.sock");
    echo_server(&echo);
    http_server(&http);
    let unix = Active::establish(&link(d.path(), "unix", &echo)).unwrap();
    let rest = Active::establish(&link(d.path(), "rest", &http)).unwrap();
    let unix_at = Path::new(&unix.link.target).to_path_buf();
    let rest_at = Path::new(&rest.link.target).to_path_buf();
    // warm up, then direct and proxied alternately
    let _ = (echo_latency(&echo), echo_latency(&unix_at));
    let lat = (echo_latency(&echo), echo_latency(&unix_at));
    let thr = (echo_throughput(&echo), echo_throughput(&unix_at));
    report("unix", lat, thr);
    let _ = (http_latency(&http), http_latency(&rest_at));
    let lat = (http_latency(&http), http_latency(&rest_at));
    let thr = (http_throughput(&http), http_throughput(&rest_at));
    report("rest", lat, thr);
}
