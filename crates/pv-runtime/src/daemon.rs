//! The runtime's main loop in appengine mode: boot the revision the boot
//! environment selects, supervise its containers, and shut down cleanly.
//!
//! Exit codes follow the original: 0 = reboot (whatever runs us starts us
//! again with the same flags), 3 = power off. SIGTERM means reboot, SIGINT
//! power off.

use std::path::{Path, PathBuf};
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
    /// The binary implementing the `__container-init` subcommand.
    pub exe: PathBuf,
    /// Period of the engine tick.
    pub tick: Duration,
    /// The main loop of embedded mode (started by PID 1, [`crate::init`]):
    /// the bootloader's `pv_rev=` is the booted revision, the BSP is
    /// mounted, the watchdog follows `PV_WDT_MODE`.
    pub embedded: bool,
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

/// Where pantavisor.config is looked for without `--config`.
pub const DEFAULT_CONFIG: &str = "/etc/pantavisor.config";

/// The pantavisor.config to read: the one `--config` names (missing or
/// unreadable is then an error when it is read), else `default` if it
/// exists; `None` means the defaults, with a warning.
fn config_file(given: Option<&Path>, default: &Path) -> Option<PathBuf> {
    match given {
        Some(p) => Some(p.to_path_buf()),
        None if default.try_exists().unwrap_or(true) => Some(default.to_path_buf()),
        None => {
            warn!(
                "config: no {} (and no --config): starting on defaults",
                default.display()
            );
            None
        }
    }
}

/// The kernel command line the configuration reads (`--cmdline`, else
/// `/proc/cmdline`).
pub fn cmdline(opts: &Options) -> String {
    match &opts.cmdline {
        Some(c) => c.clone(),
        None => std::fs::read_to_string("/proc/cmdline").unwrap_or_default(),
    }
}

/// Load the configuration levels known before a revision runs.
pub fn load_config(opts: &Options) -> Result<Config> {
    let path = config_file(opts.config.as_deref(), Path::new(DEFAULT_CONFIG));
    let cmdline = cmdline(opts);
    let env: Vec<(String, String)> = std::env::vars().collect();
    let mut cfg = Config::load_boot(&pv_config::BootSources {
        config_path: path.as_deref(),
        cmdline: &cmdline,
        env,
    })?;
    for w in cfg.take_warnings() {
        warn!("config: {w}");
    }
    Ok(cfg)
}

/// Seed an empty storage from `opts.factory` (revision 0, DONE, boot env
/// `pv_rev=0` in the configured bootloader's format) without starting
/// anything: an image's storage partition. A storage that has a revision
/// is left as it is.
pub fn seed_only(opts: &Options) -> Result<()> {
    let cfg = load_config(opts)?;
    let layout = crate::layout::Layout::new(&opts.storage, &opts.rundir);
    layout.create()?;
    if !crate::factory::is_empty(&layout) {
        info!("{}: has a revision already", opts.storage.display());
        return Ok(());
    }
    let Some(f) = &opts.factory else {
        return Err(crate::Error::NoRevision(opts.storage.clone()));
    };
    crate::factory::seed(&layout, f)?;
    crate::device::boot_env(&cfg, &opts.storage).commit("0")?;
    info!(
        "{}: revision 0 seeded from {}",
        opts.storage.display(),
        f.display()
    );
    Ok(())
}

/// Run the daemon until it must reboot or power off; returns the exit code.
pub fn run(opts: &Options, stop: &Stop) -> Result<i32> {
    if opts.embedded {
        crate::init::reaper::unblock_stop_signals();
    }
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
        // the tick's pause, cut short by a command from the control socket
        dev.wait_ctrl(opts.tick);
    };
    Ok(dev.shutdown(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(config: Option<PathBuf>) -> Options {
        Options {
            storage: "/nonexistent/storage".into(),
            rundir: "/nonexistent/run".into(),
            config,
            factory: None,
            cmdline: Some("pv_log.level=2".into()),
            exe: "/nonexistent/pantavisor".into(),
            tick: Duration::from_millis(100),
            embedded: false,
        }
    }

    #[test]
    fn without_config_file_the_defaults() {
        let d = tempfile::tempdir().unwrap();
        let default = d.path().join("pantavisor.config");
        assert_eq!(config_file(None, &default), None);
        std::fs::write(&default, "PV_LOG_LEVEL=4\n").unwrap();
        assert_eq!(config_file(None, &default), Some(default.clone()));
        let given = d.path().join("other.config");
        assert_eq!(config_file(Some(&given), &default), Some(given));
        if !Path::new(DEFAULT_CONFIG).exists() {
            let cfg = load_config(&opts(None)).unwrap();
            assert_eq!(cfg.get_int(pv_config::Key::PvLogLevel), 2);
        }
    }

    #[test]
    fn a_named_config_file_must_be_readable() {
        let d = tempfile::tempdir().unwrap();
        let missing = d.path().join("missing.config");
        let err = crate::error::chain(&load_config(&opts(Some(missing))).unwrap_err());
        assert!(err.contains("missing.config"), "{err}");
        // a directory cannot be read as a file, even by root
        let err =
            crate::error::chain(&load_config(&opts(Some(d.path().to_path_buf()))).unwrap_err());
        assert!(err.contains(&d.path().display().to_string()), "{err}");
    }
}
