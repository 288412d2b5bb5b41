//! `pantahub serve` for end-to-end tests: a real hub process over a data
//! dir, on a free loopback port, handed out once `/healthz` answers 200,
//! killed on drop. The binary is the caller's (`CARGO_BIN_EXE_pantahub`,
//! or [`crate::workspace_bin`] from another package).

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `pantahub serve`; killed on drop.
pub struct Hub {
    /// `http://127.0.0.1:<port>`, also its public URL.
    pub url: String,
    /// Its `--data` dir.
    pub data: PathBuf,
    child: Child,
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How many ports a hub is tried on before the test fails: a server that
/// exits before answering most likely lost its port to another test.
const ATTEMPTS: usize = 5;

impl Hub {
    /// `bin serve --data <data> --listen 127.0.0.1:<port>` with what
    /// `configure` adds (arguments, environment).
    pub fn start(bin: &Path, data: &Path, configure: impl Fn(&mut Command)) -> Hub {
        let mut last = String::new();
        for _ in 0..ATTEMPTS {
            let addr = format!("127.0.0.1:{}", crate::free_port());
            let mut log = tempfile::tempfile().expect("a temp file for pantahub's stderr");
            let mut cmd = Command::new(bin);
            cmd.args(["serve", "--data"])
                .arg(data)
                .args(["--listen", &addr])
                .stdout(Stdio::null())
                .stderr(log.try_clone().expect("a second handle of a temp file"));
            configure(&mut cmd);
            let child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
            let mut hub = Hub {
                url: format!("http://{addr}"),
                data: data.to_path_buf(),
                child,
            };
            if hub.wait_healthy(&addr, Duration::from_secs(60)) {
                return hub;
            }
            last = read_from_start(&mut log);
        }
        panic!("pantahub serve exited before answering, {ATTEMPTS} times; last stderr:\n{last}");
    }

    /// Poll `/healthz` until it answers 200 (true) or the server exits
    /// (false); panics when neither happens in `limit`.
    fn wait_healthy(&mut self, addr: &str, limit: Duration) -> bool {
        let start = Instant::now();
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if health(addr).is_some_and(|r| r.split(' ').nth(1) == Some("200")) {
                return true;
            }
            assert!(
                start.elapsed() < limit,
                "pantahub serve did not answer on {addr} in {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `bin user add` into `data`: a verified account.
    pub fn add_user(bin: &Path, data: &Path, nick: &str, email: &str, password: &str) {
        let out = Command::new(bin)
            .args(["user", "add", "--data"])
            .arg(data)
            .args(["--nick", nick, "--email", email, "--password", password])
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
        assert!(
            out.status.success(),
            "pantahub user add {nick}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The whole answer of `GET /healthz` over HTTP/1.0, if one came.
fn health(addr: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.write_all(b"GET /healthz HTTP/1.0\r\nHost: hub\r\n\r\n")
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn read_from_start(f: &mut File) -> String {
    let mut text = String::new();
    let _ = f.rewind().and_then(|_| f.read_to_string(&mut text));
    text
}
