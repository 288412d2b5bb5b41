//! The unix and rest proxies of an xconnect link against a direct Unix
//! socket connection, measured in the same run (run by
//! `bench/xconnect.sh`). This process stands in for both containers
//! (its own pid), so the links go through the same code as on a device:
//! `/proc/<pid>/root` lookups, the listener, the per-connection relays.
//!
//! Every round measures each metric directly and through the proxy in
//! turn (so machine load hits both alike); prints, for each proxy, the
//! medians over the rounds of the p50 round-trip latency (direct,
//! proxied, added) and of the one-way throughput (direct, proxied, and
//! the median of the per-round ratios), and the CPU seconds the process
//! spent per GiB in each. Usage: `xconnect_bench [ROUNDS]`
//! (default 7).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

use pv_xconnect::link::Active;
use pv_xconnect::Link;

const ROUND_TRIPS: usize = 20_000;
const BULK: u64 = 1 << 30;

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
        uid: None,
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

/// The CPU time of this whole process (every thread, ended ones too):
/// user + system, in seconds (`/proc/self/stat`, USER_HZ = 100).
fn cpu_seconds() -> f64 {
    let t = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after_name: Vec<&str> = t[t.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 =
        after_name[11].parse::<u64>().unwrap() + after_name[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

/// A throughput measurement and the CPU seconds the process spent per
/// GiB moved during it (client, proxy and server together).
fn with_cpu(f: impl FnOnce() -> f64) -> (f64, f64) {
    let c0 = cpu_seconds();
    let mbs = f();
    (
        mbs,
        (cpu_seconds() - c0) / (BULK as f64 / (1u64 << 30) as f64),
    )
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

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// One metric over the rounds: direct and proxied values, measured in
/// turn within each round.
#[derive(Default)]
struct Pair {
    direct: Vec<f64>,
    proxied: Vec<f64>,
}

impl Pair {
    /// Measure both, the direct one first in even rounds and second in
    /// odd ones (so neither always runs on a warmer or busier machine).
    fn measure(&mut self, round: usize, direct: impl Fn() -> f64, proxied: impl Fn() -> f64) {
        if round.is_multiple_of(2) {
            self.direct.push(direct());
            self.proxied.push(proxied());
        } else {
            self.proxied.push(proxied());
            self.direct.push(direct());
        }
    }

    /// [`Pair::measure`] of a throughput and, in `cpu`, its CPU cost.
    fn measure_with_cpu(
        &mut self,
        cpu: &mut Pair,
        round: usize,
        direct: impl Fn() -> f64,
        proxied: impl Fn() -> f64,
    ) {
        let d = || with_cpu(&direct);
        let p = || with_cpu(&proxied);
        let (a, b) = if round.is_multiple_of(2) {
            let a = d();
            (a, p())
        } else {
            let b = p();
            (d(), b)
        };
        self.direct.push(a.0);
        self.proxied.push(b.0);
        cpu.direct.push(a.1);
        cpu.proxied.push(b.1);
    }

    /// The median of the per-round proxied/direct ratios.
    fn ratio(&self) -> f64 {
        let r: Vec<f64> = self
            .direct
            .iter()
            .zip(&self.proxied)
            .map(|(d, p)| p / d)
            .collect();
        median(&r)
    }
}

fn report(kind: &str, lat: &Pair, thr: &Pair, cpu: &Pair) {
    let (ld, lp) = (median(&lat.direct), median(&lat.proxied));
    let added: Vec<f64> = lat
        .direct
        .iter()
        .zip(&lat.proxied)
        .map(|(d, p)| p - d)
        .collect();
    println!(
        "{kind}: p50 round trip, median of {} rounds: direct {ld:.1} us, proxied {lp:.1} us, added {:.1} us (target < 50)",
        lat.direct.len(),
        median(&added)
    );
    let (td, tp) = (median(&thr.direct), median(&thr.proxied));
    let lo = thr
        .direct
        .iter()
        .zip(&thr.proxied)
        .map(|(d, p)| p / d)
        .fold(f64::INFINITY, f64::min);
    let hi = thr
        .direct
        .iter()
        .zip(&thr.proxied)
        .map(|(d, p)| p / d)
        .fold(0.0, f64::max);
    println!(
        "{kind}: throughput, median of {} rounds: direct {td:.0} MB/s, proxied {tp:.0} MB/s, ratio {:.2} (rounds {lo:.2}..{hi:.2}; target >= 0.8)",
        thr.direct.len(),
        thr.ratio()
    );
    // what the proxy costs in CPU, less disturbed by other load than the
    // wall clock: on a machine with one free core the throughput ratio
    // tends to direct/proxied CPU
    println!(
        "{kind}: CPU per GiB (whole process), median of {} rounds: direct {:.2} s, proxied {:.2} s, direct/proxied {:.2}",
        cpu.direct.len(),
        median(&cpu.direct),
        median(&cpu.proxied),
        1.0 / cpu.ratio()
    );
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(7);
    let d = tempfile::tempdir().unwrap();
    let echo = d.path().join("echo.sock");
    let http = d.path().join("http.sock");
    echo_server(&echo);
    http_server(&http);
    let unix = Active::establish(&link(d.path(), "unix", &echo)).unwrap();
    let rest = Active::establish(&link(d.path(), "rest", &http)).unwrap();
    let unix_at = Path::new(&unix.link.target).to_path_buf();
    let rest_at = Path::new(&rest.link.target).to_path_buf();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    // warm up
    let _ = (echo_latency(&echo), echo_latency(&unix_at));
    let _ = (http_latency(&http), http_latency(&rest_at));
    let (mut unix_lat, mut unix_thr) = (Pair::default(), Pair::default());
    let (mut rest_lat, mut rest_thr) = (Pair::default(), Pair::default());
    let (mut unix_cpu, mut rest_cpu) = (Pair::default(), Pair::default());
    for round in 0..rounds {
        unix_lat.measure(
            round,
            || us(echo_latency(&echo)),
            || us(echo_latency(&unix_at)),
        );
        rest_lat.measure(
            round,
            || us(http_latency(&http)),
            || us(http_latency(&rest_at)),
        );
        unix_thr.measure_with_cpu(
            &mut unix_cpu,
            round,
            || echo_throughput(&echo),
            || echo_throughput(&unix_at),
        );
        rest_thr.measure_with_cpu(
            &mut rest_cpu,
            round,
            || http_throughput(&http),
            || http_throughput(&rest_at),
        );
        eprintln!(
            "round {}: unix {:.2}, rest {:.2}",
            round + 1,
            unix_thr.proxied[round] / unix_thr.direct[round],
            rest_thr.proxied[round] / rest_thr.direct[round]
        );
    }
    report("unix", &unix_lat, &unix_thr, &unix_cpu);
    report("rest", &rest_lat, &rest_thr, &rest_cpu);
}
