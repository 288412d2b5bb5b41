//! A running device: boot (with the resume decisions of an update), the
//! engine ticks, update progression, commands and shutdown.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pv_boot::BootEnv;
use pv_config::{Config, Key};
use pv_objects::ObjectStore;
use tracing::{error, info, warn};

use crate::daemon::{load_config, Options, EXIT_REBOOT};
use crate::engine::{Engine, GoalState, Verdict};
use crate::housekeeping::{clean_temp_files, point_current, reap_previous_instance};
use crate::layout::Layout;
use crate::metadata::{apply_revision_config, Metadata};
use crate::model::{RevisionModel, Status};
use crate::progress::{self, Progress};
use crate::system::{LinuxSystem, System};
use crate::update::{self, msg, Kind, Phase, Resume, Update};
use crate::{chain, factory, gc, model, trail, verify, Error, Result};

/// A request for the device (from the control API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run an installed local revision; `commit` forces a reboot transition.
    LocalRun {
        rev: String,
        commit: bool,
    },
    RunGc,
    Reboot,
    Poweroff,
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("an update is in progress")]
    Busy,
    #[error("revision {0} not found")]
    NotFound(String),
    #[error("{0}")]
    Refused(String),
}

/// The device's state, owned by the main loop.
pub struct Device {
    pub cfg: Config,
    pub layout: Layout,
    pub env: Box<dyn BootEnv + Send + Sync>,
    /// The running revision.
    pub rev: String,
    /// `None` while the revision cannot run (error state).
    pub engine: Option<Engine>,
    pub update: Option<Update>,
    pub meta: Metadata,
    /// The kernel: volumes, cgroups, containers, free space.
    pub sys: Arc<dyn System>,
    pub(crate) logs: Option<pv_logs::LogServer>,
    wdt: crate::watchdog::Watchdog,
    exe: PathBuf,
    last_status: Option<Status>,
    pub(crate) pending_exit: Option<i32>,
    pub(crate) ctrl: Option<crate::ctrl::Control>,
    lan: Option<pv_lan::LanServer>,
    pub(crate) hub: Option<crate::hub::HubLink>,
    /// GO_REMOTE was received while running a local revision.
    pub(crate) go_remote: bool,
    /// Embedded mode, until the first time every status goal is reached
    /// (reported once on the console, [`crate::init::report`]).
    report_goals: bool,
    embedded: bool,
    /// Managed daemons (`pv-xconnect`, `pv-dbus`).
    pub(crate) daemons: Option<crate::daemons::Daemons>,
    /// The hosted D-Bus system bus's files.
    pub(crate) hosted: crate::hosted_bus::HostedBusState,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("rev", &self.rev)
            .field("update", &self.update)
            .finish_non_exhaustive()
    }
}

pub(crate) fn boot_env(cfg: &Config, storage: &std::path::Path) -> Box<dyn BootEnv + Send + Sync> {
    let t = cfg.bootloader_type();
    let fmt = pv_boot::EnvFormat::for_bootloader(t.as_str()).unwrap_or_else(|| {
        warn!("bootloader type {t} is not supported in appengine mode; using uboot");
        pv_boot::EnvFormat::UbootNul
    });
    fmt.open(storage)
}

/// Everything a revision must pass before its containers start; errors
/// carry the original's progress message.
fn load_revision(
    layout: &Layout,
    cfg: &Config,
    rev: &str,
) -> std::result::Result<(pv_types::State, RevisionModel), (String, String)> {
    let (raw, state) = trail::read_state(layout, rev)
        .map_err(|e| (state_read_message(&e).to_string(), chain(&e)))?;
    state
        .validate()
        .map_err(|r| (msg::BAD_FORMAT.to_string(), r.to_string()))?;
    if cfg.get_bool(Key::PvSecurebootChecksum) {
        verify::check_objects(layout, rev, &state)
            .map_err(|e| (msg::OBJECT_VALIDATION.to_string(), chain(&e)))?;
    }
    check_signatures(cfg, &raw)?;
    let m = model::parse(&state, cfg.get_duration(Key::PvUpdaterGoalsTimeout))
        .map_err(|e| (msg::BAD_FORMAT.to_string(), chain(&e)))?;
    Ok((state, m))
}

/// The progress message of a state that cannot be read: missing, or not
/// JSON (spec §4.2).
pub(crate) fn state_read_message(e: &Error) -> &'static str {
    match e {
        Error::StateNotFound { .. } => msg::NOT_FOUND,
        _ => msg::BAD_FORMAT,
    }
}

pub(crate) fn check_signatures(
    cfg: &Config,
    raw: &[u8],
) -> std::result::Result<(), (String, String)> {
    let store = cfg
        .get_opt_str(Key::PvSecurebootTruststore)
        .map(PathBuf::from);
    let trust = verify::load_trust(store.as_deref());
    // the error's own text is the progress message (spec §4.2)
    verify::check_signatures(raw, cfg.secureboot_mode(), &trust)
        .map_err(|e| (e.to_string(), chain(&e)))
}

impl Device {
    /// Boot: configuration, storage, factory seeding, the boot env's
    /// choice, the resume decision of a pending update, revision checks,
    /// log server, metadata, engine.
    pub fn boot(opts: &Options) -> Result<Device> {
        Device::boot_on(opts, Arc::new(LinuxSystem))
    }

    /// [`Device::boot`] on `sys` (the real kernel, or a fake in tests).
    pub fn boot_on(opts: &Options, sys: Arc<dyn System>) -> Result<Device> {
        let mut cfg = load_config(opts)?;
        let layout = Layout::new(&opts.storage, &opts.rundir);
        layout.create()?;
        crate::hubfiles::load_ph_config(&mut cfg, &layout, &crate::daemon::cmdline(opts));
        crate::hubfiles::write_run_dir_hints(&cfg, &layout);
        trail::clean_temp(&layout);
        clean_temp_files(&layout);
        reap_previous_instance(&*sys, &layout);
        let pool = ObjectStore::open(layout.objects())?;
        crate::hub::download::clean(&layout, &pool);
        let n = pool.clean_temp()?;
        if n > 0 {
            info!("removed {n} unfinished object writes");
        }
        // appengine runs on somebody's host: its watchdog is ours only if asked for
        let wdt_mode =
            if !opts.embedded && cfg.modified(Key::PvWdtMode) == pv_config::Level::Default {
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
        // embedded: the bootloader's choice (`pv_rev=`), else we play the bootloader
        let booted = match crate::init::bootloader_choice(opts) {
            Some(rev) => rev,
            None => env.boot()?,
        };
        let st = env.state()?;
        progress::recover_commits(&layout, st.committed());
        info!("booting revision {booted}");
        let meta = Metadata::open(&layout)?;
        let hosted = crate::hosted_bus::HostedBusState::new(&layout);
        let mut dev = Device {
            cfg,
            layout,
            env,
            rev: booted.clone(),
            engine: None,
            update: None,
            meta,
            sys,
            logs: None,
            wdt,
            exe: opts.exe.clone(),
            last_status: None,
            pending_exit: None,
            ctrl: None,
            lan: None,
            hub: None,
            go_remote: false,
            report_goals: opts.embedded,
            embedded: opts.embedded,
            daemons: None,
            hosted,
        };
        let try_rev = st.pv_try.clone();
        let try_progress = try_rev
            .as_deref()
            .and_then(|t| progress::read(&dev.layout, t));
        match update::resume(&booted, try_rev.as_deref(), try_progress.as_ref()) {
            Resume::Normal => {}
            Resume::RollBack => {
                warn!("revision {booted} failed its update: rebooting into the rollback point");
                dev.pending_exit = Some(EXIT_REBOOT);
                return Ok(dev);
            }
            Resume::ClearTry { rev, unexpected } => {
                if unexpected {
                    error!("revision {rev} was being tried and did not finish: rolled back");
                    dev.set_progress(&rev, Progress::new("ERROR", msg::UNEXPECTED_ROLLBACK));
                }
                dev.env.fail()?;
            }
            Resume::Test(rev) => {
                info!("trying revision {rev}");
                dev.set_progress(&rev, Progress::new("INPROGRESS", msg::TRYING));
                dev.update = Some(Update {
                    rev,
                    kind: Kind::Reboot,
                    phase: Phase::InProgress,
                });
            }
        }
        point_current(&dev.layout, &booted);
        dev.start_logs();
        dev.ctrl = crate::ctrl::Control::start(&dev.layout, dev.sys.clone());
        dev.daemons = Some(crate::daemons::Daemons::start(
            &dev.exe,
            &dev.layout.rundir.join("pv-ctrl"),
            &dev.hosted.command(),
        ));
        let (state, model) = match load_revision(&dev.layout, &dev.cfg, &booted) {
            Ok(x) => x,
            Err((short, detail)) => {
                error!("revision {booted} cannot run: {detail}");
                if dev.update.is_some() {
                    dev.fail_update(&short);
                } else {
                    dev.set_progress(&booted, Progress::new("ERROR", &short));
                }
                return Ok(dev);
            }
        };
        drop(state);
        if opts.embedded {
            crate::init::bsp::mount(
                &*dev.sys,
                &dev.layout,
                &booted,
                &dev.cfg,
                model.drivers_json.as_ref(),
            );
        }
        if booted == "0" && !progress::read(&dev.layout, "0").is_some_and(|p| p.is_final()) {
            dev.set_progress("0", Progress::new("DONE", msg::FACTORY));
            progress::mark_done(&dev.layout, "0")?;
        }
        dev.meta.boot(&dev.layout, &booted, &dev.cfg);
        apply_revision_config(&mut dev.cfg, &dev.layout, &booted, &dev.meta);
        if dev.ctrl.is_some() {
            dev.lan = crate::lan::start(&dev.cfg, &dev.layout);
        }
        let mut engine = Engine::with_system(
            &booted,
            model,
            dev.layout.clone(),
            dev.exe.clone(),
            dev.sys.clone(),
        );
        engine.logs = dev.logs.as_ref().map(|s| s.handle());
        engine.updating = dev.update.is_some();
        dev.meta.container_views(&engine.platforms);
        info!(
            "revision {booted}: {} containers in {} groups",
            engine.platforms.len(),
            engine.model.groups.len()
        );
        dev.publish_roles(&engine);
        dev.engine = Some(engine);
        dev.hub = crate::hub::HubLink::start(&dev.cfg, &dev.layout, &booted, &dev.exe);
        Ok(dev)
    }

    fn start_logs(&mut self) {
        match pv_logs::LogServer::start_with_resolver(
            crate::logging::log_config(&self.cfg, &self.layout, &self.rev),
            Arc::new(ContainerResolver {
                sys: self.sys.clone(),
                base: self.layout.cgroup_base(),
            }),
        ) {
            Ok(s) => {
                crate::logging::set_handle(Some(s.handle()));
                if let Some(u) = &self.update {
                    s.handle().start_update(&u.rev);
                }
                self.logs = Some(s);
            }
            Err(e) => warn!("log server not started: {e}"),
        }
    }

    pub(crate) fn set_progress(&self, rev: &str, p: Progress) {
        info!("revision {rev}: {} {}", p.status, p.msg);
        if let Err(e) = progress::write(&self.layout, rev, &p) {
            error!("revision {rev}: progress not written: {e}");
        }
        self.hub_progress(rev, &p);
    }

    /// The ERROR/FATAL lines the log server collected during the update.
    fn update_logs(&self, rev: &str) -> Option<String> {
        let h = self.logs.as_ref()?.handle();
        let _ = h.stop_update(Duration::from_secs(5));
        pv_logs::read_update_logs(&self.layout.storage, rev, 4096)
    }

    /// The update failed: ERROR, then reboot into the rollback point.
    pub(crate) fn fail_update(&mut self, message: &str) {
        let Some(u) = self.update.take() else { return };
        error!("update to {} failed: {message}", u.rev);
        let mut p = Progress::new("ERROR", message);
        p.logs = self.update_logs(&u.rev);
        self.set_progress(&u.rev, p);
        if u.kind == Kind::NonReboot {
            // this boot did not consume the try: clear it, one reboot is enough
            if let Err(e) = self.env.fail() {
                error!("boot env: {e}");
            }
        }
        if let Some(e) = &mut self.engine {
            e.updating = false;
        }
        self.pending_exit = Some(EXIT_REBOOT);
    }

    /// Commit the update under test: UPDATED for a non-reboot switch; for a
    /// tried boot, DONE as the new rollback point (prepare, boot env commit,
    /// publish — see docs/design/update-protocol.md).
    fn finish_update(&mut self) -> Result<()> {
        let Some(u) = self.update.take() else {
            return Ok(());
        };
        let _ = self.update_logs(&u.rev);
        match u.kind {
            Kind::NonReboot => self.set_progress(&u.rev, Progress::new("UPDATED", msg::UPDATED)),
            Kind::Reboot => {
                progress::prepare_commit(&self.layout, &u.rev, &Progress::new("DONE", msg::DONE))?;
                pv_fs::fault::point("update:commit-prepared");
                self.env.commit(&u.rev)?;
                pv_fs::fault::point("update:env-committed");
                progress::finish_commit(&self.layout, &u.rev)?;
                info!("revision {}: DONE {}", u.rev, msg::DONE);
            }
        }
        if let Some(e) = &mut self.engine {
            e.updating = false;
        }
        Ok(())
    }

    pub(crate) fn publish_roles(&self, engine: &Engine) {
        if let Some(c) = &self.ctrl {
            c.set_roles(
                engine
                    .platforms
                    .iter()
                    .map(|p| (p.def.name.clone(), p.def.roles.iter().any(|r| r == "mgmt"))),
            );
        }
    }

    /// One turn of the main loop; `Some(code)` when the process must exit.
    pub fn tick(&mut self) -> Option<i32> {
        if let Some(c) = self.pending_exit {
            return Some(c);
        }
        self.wdt.kick();
        self.serve_ctrl();
        self.serve_hub();
        if let Some(c) = self.pending_exit {
            return Some(c);
        }
        let verdict = match self.xconnect_unmet() {
            Some(m) => Verdict::Rollback(m),
            None => self.engine.as_mut()?.tick(),
        };
        match verdict {
            Verdict::Continue => {}
            Verdict::Reboot(m) | Verdict::Rollback(m) => {
                if self.update.is_some() {
                    error!("{m}");
                    self.fail_update(msg::CONTAINER_FAILED);
                } else {
                    error!("rebooting: {m}");
                    self.pending_exit = Some(EXIT_REBOOT);
                }
                return self.pending_exit;
            }
        }
        let now = Instant::now();
        let status = self.engine.as_ref()?.revision_status(now);
        if self.last_status != Some(status) {
            if status == Status::Ready {
                self.wdt.on_running();
            }
            info!("revision {}: status {}", self.rev, status.as_str());
            self.meta
                .set_device(pv_metadata::keys::STATUS, status.as_str());
            self.last_status = Some(status);
        }
        if self.report_goals && self.engine.as_ref()?.revision_goal(now) == GoalState::Achieved {
            self.report_goals = false;
            crate::init::report(&format!("revision {}: all status goals reached", self.rev));
        }
        self.progress_update(now);
        self.xconnect_tick(now);
        self.pending_exit
    }

    fn progress_update(&mut self, now: Instant) {
        let Some(u) = &self.update else { return };
        let engine = self.engine.as_ref().expect("engine runs");
        match u.phase.clone() {
            Phase::InProgress => match engine.revision_goal(now) {
                GoalState::Achieved | GoalState::None => {
                    let delay = self.cfg.get_duration(Key::PvUpdaterCommitDelay);
                    let (rev, m) = (u.rev.clone(), u.testing_message());
                    self.set_progress(&rev, Progress::new("TESTING", m));
                    if let Some(u) = &mut self.update {
                        u.phase = Phase::Testing {
                            commit_at: now + delay,
                            waiting_reported: false,
                        };
                    }
                }
                GoalState::TimedOut => self.fail_update(msg::GOAL_NOT_REACHED),
                GoalState::Unachieved => {}
            },
            Phase::Testing {
                commit_at,
                waiting_reported,
            } => {
                if now < commit_at {
                    return;
                }
                let unstable = engine.platforms.iter().any(|p| {
                    let st = p
                        .def
                        .auto_recovery
                        .as_ref()
                        .map(|a| a.stable_timeout)
                        .unwrap_or_default();
                    !st.is_zero()
                        && !p.user_stopped
                        && !p.recovery_failed
                        && p.goal_reached_at.is_none_or(|t| now < t + st)
                });
                if unstable {
                    if !waiting_reported {
                        let rev = u.rev.clone();
                        self.set_progress(&rev, Progress::new("TESTING", msg::WAITING_STABLE));
                        if let Some(u) = &mut self.update {
                            u.phase = Phase::Testing {
                                commit_at,
                                waiting_reported: true,
                            };
                        }
                    }
                    return;
                }
                if let Err(e) = self.finish_update() {
                    error!("commit failed: {e}");
                    self.pending_exit = Some(EXIT_REBOOT);
                }
            }
        }
    }

    /// The revisions the garbage collector must keep.
    pub fn gc_keep(&self) -> BTreeSet<String> {
        let mut keep: BTreeSet<String> = [self.rev.clone()].into();
        if let Ok(st) = self.env.state() {
            keep.insert(st.committed().to_string());
            if let Some(t) = st.pv_try {
                keep.insert(t);
            }
        }
        if let Some(u) = &self.update {
            keep.insert(u.rev.clone());
        }
        if self.cfg.get_bool(Key::PvStorageGcKeepFactory) {
            keep.insert("0".into());
        }
        keep
    }

    /// Carry out a command.
    pub fn command(&mut self, c: Command) -> std::result::Result<(), CommandError> {
        match c {
            Command::Reboot | Command::Poweroff if self.update.is_some() => Err(CommandError::Busy),
            Command::Reboot => {
                self.pending_exit = Some(EXIT_REBOOT);
                Ok(())
            }
            Command::Poweroff => {
                self.pending_exit = Some(crate::daemon::EXIT_POWEROFF);
                Ok(())
            }
            Command::RunGc => {
                let keep = self.gc_keep();
                gc::run(&self.layout, &keep)
                    .map(|_| ())
                    .map_err(|e| CommandError::Refused(chain(&e)))
            }
            Command::LocalRun { rev, commit } => self.local_run(&rev, commit),
        }
    }

    /// Stop everything: containers (5 s grace), volumes, log server.
    pub fn shutdown(mut self, code: i32) -> i32 {
        self.wdt.on_shutdown(code == EXIT_REBOOT);
        if let Some(d) = &mut self.daemons {
            d.stop_all();
        }
        if self.embedded {
            crate::init::report("stopping");
        }
        info!("stopping containers");
        if let Some(e) = &mut self.engine {
            e.stop_all();
        }
        let _ = self.sys.unmount_all(&self.layout.voldir);
        info!("shutdown complete");
        self.lan = None;
        self.hub = None;
        self.ctrl = None;
        crate::logging::set_handle(None);
        if let Some(s) = self.logs.take() {
            let _ = s.stop();
        }
        code
    }
}

/// Log messages sent by a process of this device's containers are logged
/// under that container's name; anything else is the host's.
struct ContainerResolver {
    sys: Arc<dyn System>,
    base: String,
}

impl pv_logs::PlatformResolver for ContainerResolver {
    fn platform_of(&self, pid: u32) -> Option<String> {
        Some(
            self.sys
                .container_of(pid as i32, &self.base)
                .unwrap_or_else(|| "pantavisor".into()),
        )
    }
}
