#![allow(dead_code)]
//! A terminal program driven through a private tmux server: keys in with
//! `send-keys`, the screen out with `capture-pane` (each capture worth
//! keeping is saved under the test's output directory).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Tmux {
    server: String,
    out: PathBuf,
    shots: usize,
}

impl Tmux {
    /// Start `cmd` (a shell command line) in a `cols`×`rows` session.
    pub fn start(name: &str, cmd: &str, out: &Path, cols: u16, rows: u16) -> Tmux {
        let server = format!("{name}-{}", std::process::id());
        std::fs::create_dir_all(out).unwrap();
        let t = Tmux {
            server,
            out: out.to_path_buf(),
            shots: 0,
        };
        let ok = t
            .cmd()
            .args(["new-session", "-d", "-s", "t", "-x", &cols.to_string()])
            .args(["-y", &rows.to_string(), cmd])
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux new-session");
        let _ = t
            .cmd()
            .args(["set-option", "-t", "t", "remain-on-exit", "on"])
            .status();
        t
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.server]).env_remove("TMUX");
        c
    }

    /// Send keys (tmux key names: `Enter`, `Down`, `Escape`, or literal text).
    pub fn keys(&self, keys: &[&str]) {
        let ok = self
            .cmd()
            .args(["send-keys", "-t", "t"])
            .args(keys)
            .status()
            .unwrap()
            .success();
        assert!(ok, "send-keys {keys:?}");
    }

    /// Type text literally.
    pub fn type_text(&self, text: &str) {
        let ok = self
            .cmd()
            .args(["send-keys", "-t", "t", "-l", text])
            .status()
            .unwrap()
            .success();
        assert!(ok, "send-keys -l {text}");
    }

    pub fn screen(&self) -> String {
        let o = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "t"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Wait until the screen shows every needle; panics with the screen
    /// otherwise. Returns the screen.
    pub fn wait_for(&self, needles: &[&str], secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if needles.iter().all(|n| s.contains(n)) {
                return s;
            }
            if Instant::now() > deadline {
                panic!("screen never showed {needles:?}:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Save the screen as `<n>-<name>.txt` under the output directory.
    pub fn shot(&mut self, name: &str) -> String {
        self.shots += 1;
        let s = self.screen();
        std::fs::write(self.out.join(format!("{:02}-{name}.txt", self.shots)), &s).unwrap();
        s
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}
