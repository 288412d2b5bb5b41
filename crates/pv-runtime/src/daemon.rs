//! The runtime's main loop in appengine mode: boot the revision the boot
//! environment selects, supervise its containers, and shut down cleanly.
//!
//! Exit codes follow the original: 0 = reboot (whatever runs us starts us
//! again with the same flags), 3 = power off. SIGTERM means reboot, SIGINT
//! power off.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pv_boot::BootEnv;
use pv_config::{Config, Key};
use pv_objects::ObjectStore;
use tracing::{error, info, warn};

use crate::engine::{Engine, Verdict};
use crate::layout::Layout;
use crate::progress::{self, Progress};
use crate::{factory, model, trail, verify, Error, Result};

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
    })
    .map_err(|e| Error::Config(e.to_string()))?;
    for w in cfg.take_warnings() {
        warn!("config: {w}");
    }
    Ok(cfg)
}

fn boot_env(cfg: &Config, storage: &Path) -> Box<dyn BootEnv + Send + Sync> {
    let t = cfg.bootloader_type();
    let fmt = pv_boot::EnvFormat::for_bootloader(t.as_str()).unwrap_or_else(|| {
        warn!("bootloader type {t} is not supported in appengine mode; using uboot");
        pv_boot::EnvFormat::UbootNul
    });
    fmt.open(storage)
}

fn point_current(layout: &Layout, rev: &str) {
    for dir in [layout.trails(), layout.logs()] {
        let link = dir.join("current");
        let tmp = dir.join(format!(".current{}link", pv_fs::TEMP_MARKER));
        let _ = std::fs::remove_file(&tmp);
        if std::os::unix::fs::symlink(rev, &tmp).is_ok() {
            let _ = pv_fs::rename_durable(&tmp, &link);
        }
    }
}

/// Everything a revision must pass before its containers start.
fn load_revision(layout: &Layout, cfg: &Config, rev: &str) -> Result<model::RevisionModel> {
    let (raw, state) = trail::read_state(layout, rev)?;
    state
        .validate()
        .map_err(|r| Error::BadState(format!("State JSON has bad format: {r}")))?;
    if cfg.get_bool(Key::PvSecurebootChecksum) {
        verify::check_objects(layout, rev, &state)
            .map_err(|e| Error::BadState(format!("Object validation went wrong: {e}")))?;
    }
    let store = cfg
        .get_opt_str(Key::PvSecurebootTruststore)
        .map(PathBuf::from);
    let trust = verify::load_trust(store.as_deref());
    verify::check_signatures(&raw, cfg.secureboot_mode(), &trust)?;
    model::parse(&state, cfg.get_duration(Key::PvUpdaterGoalsTimeout))
        .map_err(|e| Error::BadState(format!("State JSON has bad format: {e}")))
}

/// Run the daemon until it must reboot or power off; returns the exit code.
pub fn run(opts: &Options, stop: &Stop) -> Result<i32> {
    let mut cfg = load_config(opts)?;
    let layout = Layout::new(&opts.storage, &opts.rundir);
    layout.create()?;
    trail::clean_temp(&layout);
    let pool = ObjectStore::open(layout.objects())?;
    let n = pool.clean_temp()?;
    if n > 0 {
        info!("removed {n} unfinished object writes");
    }
    // appengine runs on somebody's host: its watchdog is ours only if asked for
    let wdt_mode = if cfg.modified(Key::PvWdtMode) == pv_config::Level::Default {
        pv_config::WdtMode::Disabled
    } else {
        cfg.wdt_mode()
    };
    let mut wdt = crate::watchdog::Watchdog::new(
        wdt_mode,
        cfg.get_duration(Key::PvWdtTimeout),
        "/dev/watchdog",
    );
    wdt.on_start();
    let env = boot_env(&cfg, &opts.storage);
    if factory::is_empty(&layout) {
        let Some(f) = &opts.factory else {
            return Err(Error::NoRevision(opts.storage.clone()));
        };
        info!("empty storage: seeding revision 0 from {}", f.display());
        factory::seed(&layout, f)?;
        env.commit("0")?;
    }
    let rev = env.boot()?;
    info!("booting revision {rev}");
    point_current(&layout, &rev);
    let model = match load_revision(&layout, &cfg, &rev) {
        Ok(m) => m,
        Err(e) => {
            error!("revision {rev} cannot run: {e}");
            let msg = e.to_string();
            let short = [
                "Object validation went wrong",
                "State JSON has bad format",
                "State JSON not found",
                "Signature validation failed",
                "State not fully covered by signatures",
            ]
            .into_iter()
            .find(|m| msg.contains(m))
            .unwrap_or("Internal error");
            let _ = progress::write(&layout, &rev, &Progress::new("ERROR", short));
            return Ok(wait_for_stop(stop, opts.tick));
        }
    };
    if rev == "0" && progress::read(&layout, "0").is_none() {
        progress::write(&layout, "0", &Progress::new("DONE", "Factory revision"))?;
        progress::mark_done(&layout, "0")?;
    }
    let log_server = match pv_logs::LogServer::start_with_resolver(
        crate::logging::log_config(&cfg, &layout, &rev),
        std::sync::Arc::new(pv_logs::CgroupResolver::new(true)),
    ) {
        Ok(s) => {
            crate::logging::set_handle(Some(s.handle()));
            Some(s)
        }
        Err(e) => {
            warn!("log server not started: {e}");
            None
        }
    };
    let mut meta = Metadata::open(&layout)?;
    meta.boot(&layout, &rev);
    apply_revision_config(&mut cfg, &layout, &rev, &meta);
    let mut engine = Engine::new(&rev, model, layout.clone(), opts.exe.clone());
    engine.logs = log_server.as_ref().map(|s| s.handle());
    for p in &engine.platforms {
        meta.container_views(p.name());
    }
    info!(
        "revision {rev}: {} containers in {} groups",
        engine.platforms.len(),
        engine.model.groups.len()
    );
    let mut last_status = None;
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
        wdt.kick();
        match engine.tick() {
            Verdict::Continue => {}
            Verdict::Reboot(msg) => {
                error!("rebooting: {msg}");
                break EXIT_REBOOT;
            }
            Verdict::Rollback(msg) => {
                error!("rolling back: {msg}");
                let _ = progress::write(
                    &layout,
                    &rev,
                    &Progress::new("ERROR", "A container could not be started"),
                );
                env.fail()?;
                break EXIT_REBOOT;
            }
        }
        let status = engine.revision_status(Instant::now());
        if last_status != Some(status) {
            if status == crate::model::Status::Ready {
                wdt.on_running();
            }
            info!("revision {rev}: status {}", status.as_str());
            meta.set_device(pv_metadata::keys::STATUS, status.as_str());
            last_status = Some(status);
        }
        std::thread::sleep(opts.tick);
    };
    wdt.on_shutdown(code == EXIT_REBOOT);
    info!("stopping containers");
    engine.stop_all();
    let _ = pv_container::volumes::unmount_all(&layout.voldir);
    info!("shutdown complete");
    crate::logging::set_handle(None);
    if let Some(s) = log_server {
        let _ = s.stop();
    }
    Ok(code)
}

fn wait_for_stop(stop: &Stop, tick: Duration) -> i32 {
    loop {
        if let Some(c) = stop.requested() {
            return c;
        }
        std::thread::sleep(tick);
    }
}

/// Device and user metadata of the running device.
struct Metadata {
    device: Option<pv_metadata::MetaStore>,
    user: Option<pv_metadata::MetaStore>,
}

impl Metadata {
    fn open(layout: &Layout) -> Result<Metadata> {
        let open = |kind: pv_metadata::MetaKind| {
            pv_metadata::MetaStore::open(
                kind,
                kind.default_storage_dir(&layout.storage, true),
                &layout.rundir,
            )
            .map_err(|e| warn!("{kind:?} metadata unavailable: {e}"))
            .ok()
        };
        Ok(Metadata {
            device: open(pv_metadata::MetaKind::Device),
            user: open(pv_metadata::MetaKind::User),
        })
    }

    /// The keys the runtime publishes at boot.
    fn boot(&mut self, layout: &Layout, rev: &str) {
        let host = pv_metadata::HostMeta {
            version: env!("CARGO_PKG_VERSION"),
            storage_path: &layout.storage,
            gc_reserved_percent: 5,
        };
        for (k, v) in pv_metadata::host_device_meta(&host) {
            self.set_device(k, &v);
        }
        self.set_device(pv_metadata::keys::REVISION, rev);
        self.set_device(pv_metadata::keys::MODE, "local");
    }

    fn set_device(&mut self, key: &str, value: &str) {
        if let Some(d) = &mut self.device {
            if let Err(e) = d.set(key, value) {
                warn!("device metadata {key}: {e}");
            }
        }
    }

    /// The per-container views non-mgmt containers see.
    fn container_views(&self, name: &str) {
        for s in [&self.device, &self.user].into_iter().flatten() {
            if let Err(e) = s.ensure_container_view(name) {
                warn!("metadata view of {name}: {e}");
            }
        }
    }
}

/// The configuration levels that come with a running revision: the OEM
/// config it ships (`PV_OEM_NAME`) and `PV_*` keys in user metadata.
fn apply_revision_config(cfg: &mut Config, layout: &Layout, rev: &str, meta: &Metadata) {
    if let Some(p) = cfg.oem_config_path(&layout.storage, rev) {
        if p.exists() {
            match cfg.load_oem(&p) {
                Ok(()) => info!("OEM configuration {} loaded", p.display()),
                Err(e) => warn!("OEM configuration {}: {e}", p.display()),
            }
        }
    }
    if let Some(user) = &meta.user {
        for (k, v) in user.iter() {
            if pv_config::Key::from_name(k).is_some() && cfg.set_metadata(k, v) {
                info!("configuration {k} set from user metadata");
            }
        }
    }
    for w in cfg.take_warnings() {
        warn!("config: {w}");
    }
}
