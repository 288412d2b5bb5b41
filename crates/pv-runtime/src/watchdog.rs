//! The hardware watchdog (`/dev/watchdog`, spec §11).
//!
//! Modes, in order: `disabled` never opens the device; `shutdown` opens it
//! when a reboot's shutdown begins (so a hung shutdown resets the device);
//! `startup` opens it when the main loop starts and closes it, without the
//! magic close, once the revision runs (a container takes over); `always`
//! opens it at start and keeps it. Every engine tick pings it.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::Duration;

use pv_config::WdtMode;
use tracing::{info, warn};

nix::ioctl_readwrite!(wdioc_settimeout, b'W', 6, libc::c_int);

/// The watchdog and the mode it follows.
#[derive(Debug)]
pub struct Watchdog {
    mode: WdtMode,
    timeout: Duration,
    path: PathBuf,
    file: Option<File>,
}

impl Watchdog {
    pub fn new(mode: WdtMode, timeout: Duration, path: impl Into<PathBuf>) -> Watchdog {
        Watchdog {
            mode,
            timeout,
            path: path.into(),
            file: None,
        }
    }

    /// True while the device is open (and must be pinged).
    pub fn is_armed(&self) -> bool {
        self.file.is_some()
    }

    fn arm(&mut self) {
        if self.file.is_some() || self.mode == WdtMode::Disabled {
            return;
        }
        match OpenOptions::new().write(true).open(&self.path) {
            Ok(f) => {
                let mut t = self.timeout.as_secs() as libc::c_int;
                // SAFETY: WDIOC_SETTIMEOUT reads and writes one c_int, which
                // `t` is; `f` is an open descriptor we own.
                if let Err(e) = unsafe { wdioc_settimeout(f.as_raw_fd(), &mut t) } {
                    warn!("watchdog {}: cannot set timeout: {e}", self.path.display());
                }
                info!("watchdog {} armed ({} s)", self.path.display(), t);
                self.file = Some(f);
                self.kick();
            }
            Err(e) => warn!("watchdog {}: {e}", self.path.display()),
        }
    }

    /// The main loop starts.
    pub fn on_start(&mut self) {
        if matches!(self.mode, WdtMode::Startup | WdtMode::Always) {
            self.arm();
        }
    }

    /// The revision runs: `startup` hands the watchdog over (closed without
    /// the magic close, so it keeps running).
    pub fn on_running(&mut self) {
        if self.mode == WdtMode::Startup && self.file.take().is_some() {
            info!("watchdog handed over to the running revision");
        }
    }

    /// Shutdown begins; `reboot` if the device is going to restart.
    pub fn on_shutdown(&mut self, reboot: bool) {
        if reboot && self.mode == WdtMode::Shutdown {
            self.arm();
        }
        self.kick();
    }

    /// Ping (any write keeps a Linux watchdog alive).
    pub fn kick(&mut self) {
        if let Some(f) = &mut self.file {
            if let Err(e) = f.write_all(b"\0") {
                warn!("watchdog {}: ping failed: {e}", self.path.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pings(p: &std::path::Path) -> usize {
        std::fs::read(p).map(|b| b.len()).unwrap_or(0)
    }

    #[test]
    fn modes_open_and_release_the_device_as_documented() {
        let d = tempfile::tempdir().unwrap();
        let dev = d.path().join("watchdog");
        std::fs::write(&dev, b"").unwrap();
        let t = Duration::from_secs(15);

        let mut w = Watchdog::new(WdtMode::Disabled, t, &dev);
        w.on_start();
        w.on_shutdown(true);
        w.kick();
        assert!(!w.is_armed());
        assert_eq!(pings(&dev), 0);

        let mut w = Watchdog::new(WdtMode::Startup, t, &dev);
        w.on_start();
        assert!(w.is_armed());
        w.kick();
        w.on_running();
        assert!(!w.is_armed());
        w.kick();
        assert_eq!(pings(&dev), 2);

        let mut w = Watchdog::new(WdtMode::Shutdown, t, &dev);
        w.on_start();
        assert!(!w.is_armed());
        w.on_shutdown(false);
        assert!(!w.is_armed(), "power-off does not arm it");
        w.on_shutdown(true);
        assert!(w.is_armed());

        let mut w = Watchdog::new(WdtMode::Always, t, d.path().join("missing"));
        w.on_start();
        assert!(
            !w.is_armed(),
            "a missing device is a warning, not a failure"
        );
    }
}
