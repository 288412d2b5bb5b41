//! Embedded mode: the duties of PID 1 (spec §1.1, §2.1, §2.6).
//!
//! PID 1 mounts the kernel filesystems ([`mounts`]), coldplugs the
//! initramfs's modules ([`modules`]), finds and mounts the storage
//! ([`storage`]), then starts the device loop as a child process
//! (`pv-main-loop`, the same binary with `--embedded`: the appengine loop
//! of [`crate::daemon`], which mounts the revision's BSP through [`bsp`]).
//! PID 1 itself only reaps ([`reaper`]) until that child ends, then stops
//! what is left and reboots or powers off ([`shutdown`]). It never exits:
//! a kernel whose init exits panics, and nobody learns why.

pub mod bsp;
pub mod console;
pub mod modules;
pub mod mounts;
pub mod reaper;
pub mod shutdown;
pub mod storage;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pv_config::{Config, Key};

use crate::daemon::{Options, DEFAULT_CONFIG};

/// What PID 1 was given.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The binary to run as the main loop (this one).
    pub exe: PathBuf,
    /// pantavisor.config (`/etc/pantavisor.config` of the initramfs).
    pub config: PathBuf,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            // no /proc yet for current_exe: the kernel's argv[0] (`/init`)
            exe: std::env::current_exe()
                .ok()
                .or_else(|| {
                    std::env::args()
                        .next()
                        .filter(|a| a.starts_with('/'))
                        .map(PathBuf::from)
                })
                .unwrap_or_else(|| "/init".into()),
            config: DEFAULT_CONFIG.into(),
        }
    }
}

/// The configuration PID 1 reads: pantavisor.config and the command line.
fn load_config(o: &InitOptions) -> Config {
    let opts = Options {
        storage: PathBuf::new(),
        rundir: PathBuf::new(),
        config: o.config.exists().then(|| o.config.clone()),
        factory: None,
        cmdline: None,
        exe: o.exe.clone(),
        tick: Duration::from_millis(200),
        embedded: true,
    };
    match crate::daemon::load_config(&opts) {
        Ok(c) => c,
        Err(e) => {
            console::say(&format!(
                "configuration: {}; starting on the defaults",
                crate::chain(&e)
            ));
            Config::new()
        }
    }
}

/// The revision a bootloader chose: `pv_rev=` of the kernel command line,
/// in embedded mode only (appengine plays the bootloader itself, and so
/// does a direct kernel boot without `pv_rev=`).
pub fn bootloader_choice(opts: &Options) -> Option<String> {
    if !opts.embedded {
        return None;
    }
    let rev = cmdline_value(&crate::daemon::cmdline(opts), "pv_rev")?;
    match pv_types::revision::check_revision(&rev) {
        Ok(()) => Some(rev),
        Err(e) => {
            tracing::warn!("kernel command line pv_rev={rev:?} ignored: {e}");
            None
        }
    }
}

/// The value of `key=` on a kernel command line (the last one wins).
pub fn cmdline_value(cmdline: &str, key: &str) -> Option<String> {
    cmdline
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| v.to_string())
        .next_back()
}

/// `VmRSS` of `/proc/<pid>/status` in kB.
fn vm_rss_kb(pid: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Log `what` with the time since the kernel started and the memory of
/// PID 1 and of the main loop (boot time and idle footprint of a device).
pub fn report(what: &str) {
    let uptime = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(String::from))
        .unwrap_or_else(|| "?".into());
    let kb = |p: &str| vm_rss_kb(p).map_or("?".into(), |k| k.to_string());
    tracing::info!(
        "{what} {uptime} s after the kernel started; VmRSS: PID 1 {} kB, main loop {} kB",
        kb("1"),
        kb("self")
    );
}

/// Run as PID 1; never returns.
pub fn pid1_main(o: &InitOptions) -> ! {
    if std::process::id() == 1 {
        if let Err(e) = mounts::leave_rootfs() {
            console::say(&format!("{e}: containers may not start (pivot_root)"));
        }
    }
    for e in mounts::early().into_iter().chain(mounts::host_files()) {
        console::say(&e);
    }
    console::reopen();
    console::say(&format!(
        "embedded mode, kernel {}",
        pv_kmod::kernel_release()
    ));
    modules::install_modprobe_helper(&o.exe);
    let cfg = load_config(o);
    let spec = storage::StorageSpec::from_config(&cfg);
    let mnt = storage::mount_with_retry(&spec, &modules::initramfs_modules_dir());
    modules::load_runtime_modules(&modules::initramfs_modules_dir());
    let rundir = PathBuf::from(cfg.get_str(Key::PvSystemRundir));
    let main = Arc::new(AtomicI32::new(0));
    reaper::forward_signals(main.clone());
    loop {
        let end = match spawn_main_loop(o, &mnt, &rundir) {
            Ok(pid) => {
                main.store(pid, Ordering::SeqCst);
                let end = reaper::supervise(pid);
                main.store(0, Ordering::SeqCst);
                end
            }
            Err(e) => reaper::End::Died(format!("cannot start the main loop: {e}")),
        };
        shutdown::finish(&end, &mnt);
        // only reached when reboot(2) failed: try again later
        std::thread::sleep(Duration::from_secs(5));
    }
}

/// Start `pv-main-loop`: this binary in appengine form with `--embedded`.
fn spawn_main_loop(o: &InitOptions, storage: &Path, rundir: &Path) -> std::io::Result<i32> {
    use std::os::unix::process::CommandExt;
    let mut c = Command::new(&o.exe);
    c.arg0("pv-main-loop")
        .arg("--embedded")
        .arg("--storage")
        .arg(storage)
        .arg("--run-dir")
        .arg(rundir);
    if o.config.exists() {
        c.arg("--config").arg(&o.config);
    }
    let child = c.spawn()?;
    // reaped by `reaper::supervise` (wait for any child), never through `child`
    Ok(child.id() as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pv_rev_of_the_command_line() {
        let c = "BOOT_IMAGE=/x console=ttyS0 pv_rev=5 pv_try=6 quiet";
        assert_eq!(cmdline_value(c, "pv_rev").as_deref(), Some("5"));
        assert_eq!(cmdline_value(c, "pv_try").as_deref(), Some("6"));
        assert_eq!(cmdline_value(c, "pv"), None);
        assert_eq!(
            cmdline_value("pv_rev=1 pv_rev=locals/a", "pv_rev").as_deref(),
            Some("locals/a")
        );
        let mut o = Options {
            storage: PathBuf::new(),
            rundir: PathBuf::new(),
            config: None,
            factory: None,
            cmdline: Some("pv_rev=locals/x".into()),
            exe: PathBuf::new(),
            tick: Duration::ZERO,
            embedded: false,
        };
        assert_eq!(
            bootloader_choice(&o),
            None,
            "appengine plays the bootloader"
        );
        o.embedded = true;
        assert_eq!(bootloader_choice(&o).as_deref(), Some("locals/x"));
        o.cmdline = Some("pv_rev=../x".into());
        assert_eq!(bootloader_choice(&o), None);
        o.cmdline = Some("console=ttyS0".into());
        assert_eq!(
            bootloader_choice(&o),
            None,
            "no bootloader: direct kernel boot"
        );
    }
}
