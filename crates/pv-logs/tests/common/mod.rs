#![allow(dead_code)]

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pv_logs::{DirMaxSize, FixedResolver, Level, LogConfig, LogServer, Outputs, PlatformResolver};

pub const WAIT: Duration = Duration::from_secs(10);

pub struct Env {
    pub dir: tempfile::TempDir,
    pub cfg: LogConfig,
}

impl Env {
    pub fn new(outputs: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig {
            run_dir: dir.path().join("run"),
            logs_dir: dir.path().join("storage/logs"),
            storage_dir: dir.path().join("storage"),
            revision: Some("0".into()),
            level: Level::All,
            outputs: Outputs::parse(outputs).unwrap(),
            dir_maxsize: DirMaxSize::Bytes(1 << 30),
            ..LogConfig::default()
        };
        Env { dir, cfg }
    }

    pub fn start(&self) -> LogServer {
        self.start_as(Some("app1"))
    }

    pub fn start_as(&self, platform: Option<&str>) -> LogServer {
        let r: Arc<dyn PlatformResolver> = Arc::new(FixedResolver(platform.map(String::from)));
        LogServer::start_with_resolver(self.cfg.clone(), r).unwrap()
    }

    pub fn logs(&self) -> PathBuf {
        self.cfg.logs_dir.clone()
    }

    pub fn storage(&self) -> PathBuf {
        self.cfg.storage_dir.clone()
    }
}

/// Send raw bytes on a fresh connection and close it.
pub fn send(server: &LogServer, bytes: &[u8]) {
    let mut s = UnixStream::connect(server.ctrl_socket()).unwrap();
    s.write_all(bytes).unwrap();
}

/// Poll until `path` exists and its content satisfies `pred`.
pub fn wait_for(path: &Path, pred: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        if let Ok(b) = std::fs::read(path) {
            let s = String::from_utf8_lossy(&b).into_owned();
            if pred(&s) {
                return s;
            }
        }
        if start.elapsed() > WAIT {
            panic!(
                "timed out waiting for {}: {:?}",
                path.display(),
                std::fs::read_to_string(path).ok()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Poll until `cond` holds.
pub fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > WAIT {
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
