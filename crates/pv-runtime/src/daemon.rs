//! The runtime's main loop in appengine mode: boot the revision the boot
//! environment selects, supervise its containers, and shut down cleanly.
//!
//! Exit codes follow the original: 0 = reboot (whatever runs us starts us
//! again with the same flags), 3 = power off. SIGTERM means reboot, SIGINT
//! power off.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pv_config::Config;
use tracing::{info, warn};

use crate::Result;

/// Exit code for a reboot.
pub const EXIT_REBOOT: i32 = 0;
/// Exit code for a power-off.
pub const EXIT_POWEROFF: i32 = 3;

/// How the daemon was started.
#[derive(Debug, Clone)]
pub struct Options {
    pub storage: PathBuf,
    pub rundir: PathBuf,
    pub config: Option<PathBuf>,
    pub factory: Option<PathBuf>,
    /// Replaces /proc/cmdline for configuration.
    pub cmdline: Option<String>,
    /// The binary implementing the container shim subcommands.
    pub exe: PathBuf,
    /// Period of the engine tick.
    pub tick: Duration,
}

/// Set by signal handlers.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    pub reboot: Arc<AtomicBool>,
    pub poweroff: Arc<AtomicBool>,
}

impl Stop {
    fn requested(&self) -> Option<i32> {
        if self.poweroff.load(Ordering::SeqCst) {
            Some(EXIT_POWEROFF)
        } else if self.reboot.load(Ordering::SeqCst) {
            Some(EXIT_REBOOT)
        } else {
            None
        }
    }
}

/// Load the configuration levels known before a revision runs.
pub fn load_config(opts: &Options) -> Result<Config> {
    let default = PathBuf::from("/etc/pantavisor.config");
    let path = opts.config.clone().unwrap_or(default);
    let cmdline = match &opts.cmdline {
        Some(c) => c.clone(),
        None => std::fs::read_to_string("/proc/cmdline").unwrap_or_default(),
    };
    let env: Vec<(String, String)> = std::env::vars().collect();
    let mut cfg = Config::load_boot(&pv_config::BootSources {
        config_path: &path,
        cmdline: &cmdline,
        env,
    })?;
    for w in cfg.take_warnings() {
        warn!("config: {w}");
    }
    Ok(cfg)
}

/// Run the daemon until it must reboot or power off; returns the exit code.
pub fn run(opts: &Options, stop: &Stop) -> Result<i32> {
    let mut dev = crate::device::Device::boot(opts)?;
    let code = loop {
        if let Some(code) = stop.requested() {
            info!(
                "{} requested",
                if code == EXIT_POWEROFF {
                    "power off"
                } else {
                    "reboot"
                }
            );
            break code;
        }
        if let Some(code) = dev.tick() {
            break code;
        }
        std::thread::sleep(opts.tick);
    };
    Ok(dev.shutdown(code))
}
