//! The control socket (`pv-ctrl`) served for the running device: the
//! server thread parses requests; this module answers them from the
//! device's state on the main loop (the single owner of state), as they
//! arrive while the loop waits between ticks and at each tick. A command
//! ends that wait, so the next tick runs it at once.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use pv_ctrl::rules::{self, ActionRefusal};
use pv_ctrl::{
    ApiError, AutoRecoveryInfo, Caller, CommandFacts, CommandOp, ContainerAction, ContainerInfo,
    CtrlConfig, CtrlQueue, CtrlReply, CtrlRequest, CtrlServer, GroupAutoRecovery, GroupInfo,
    MetaKind, ObjectInfo, Pending, StepInfo,
};
use pv_objects::ObjectStore;
use tracing::{info, warn};

use crate::daemons::Refused;
use crate::device::{Command, CommandError, Device};
use crate::engine::{Action, ActionError};
use crate::layout::Layout;
use crate::model::RestartPolicy;
use crate::progress::Progress;
use crate::{gc, progress, update::msg};

/// The running server, the queue it fills and the one-command slot.
pub struct Control {
    _server: CtrlServer,
    queue: CtrlQueue,
    /// Container name → has the `mgmt` role, for the resolver thread.
    roles: Arc<RwLock<HashMap<String, bool>>>,
    /// The admitted command, run at the next tick.
    slot: Option<pv_ctrl::Command>,
}

impl Control {
    /// Start serving `<rundir>/pv-ctrl`.
    pub fn start(layout: &Layout, sys: Arc<dyn crate::system::System>) -> Option<Control> {
        let roles: Arc<RwLock<HashMap<String, bool>>> = Arc::default();
        let r2 = roles.clone();
        let base = layout.cgroup_base();
        let resolver = move |pid: i32| -> Caller {
            match sys.container_of(pid, &base) {
                None => Caller::Host,
                Some(name) => {
                    let mgmt = r2
                        .read()
                        .map(|m| m.get(&name).copied().unwrap_or(false))
                        .unwrap_or(false);
                    Caller::Container { name, mgmt }
                }
            }
        };
        match CtrlServer::start(
            CtrlConfig::new(&layout.rundir, layout.objects()),
            Arc::new(resolver),
        ) {
            Ok((server, queue)) => Some(Control {
                _server: server,
                queue,
                roles,
                slot: None,
            }),
            Err(e) => {
                warn!("control socket not started: {e}");
                None
            }
        }
    }

    /// Refresh who is mgmt (after a boot or a switch of revision).
    pub fn set_roles(&self, containers: impl Iterator<Item = (String, bool)>) {
        if let Ok(mut m) = self.roles.write() {
            *m = containers.collect();
        }
    }
}

/// A step's date as the original prints it (`%Y-%m-%dT%H:%M:%SZ`, whole
/// seconds), in UTC.
fn rfc3339(t: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

impl Device {
    /// Run the admitted command, then answer every queued request.
    pub(crate) fn serve_ctrl(&mut self) {
        let Some(c) = self.ctrl.as_mut() else { return };
        let slotted = c.slot.take();
        if let Some(cmd) = slotted {
            self.run_ctrl_command(cmd);
        }
        while let Some(p) = self.ctrl.as_ref().and_then(|c| c.queue.try_next()) {
            self.answer(p);
        }
    }

    /// Wait up to `timeout` (the rest of a tick) for the control socket,
    /// answering requests as they arrive. A request that changes the
    /// device (a command, a container action, a signal) ends the wait, so
    /// that the next tick acts on it at once.
    pub(crate) fn wait_ctrl(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let Some(c) = self.ctrl.as_ref() else {
                std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                return;
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if c.slot.is_some() || left.is_zero() {
                return;
            }
            let Some(p) = c.queue.next_timeout(left) else {
                return;
            };
            let acts = matches!(
                p.request,
                CtrlRequest::Command(_)
                    | CtrlRequest::ContainerAction { .. }
                    | CtrlRequest::Signal(_)
            );
            self.answer(p);
            if acts {
                return;
            }
        }
    }

    fn run_ctrl_command(&mut self, cmd: pv_ctrl::Command) {
        info!("command {:?} {}", cmd.op, cmd.payload);
        let r = match cmd.op {
            CommandOp::RebootDevice => self.command(Command::Reboot),
            CommandOp::PoweroffDevice => self.command(Command::Poweroff),
            CommandOp::LocalRun => self.command(Command::LocalRun {
                rev: cmd.payload.clone(),
                commit: false,
            }),
            CommandOp::LocalRunCommit => self.command(Command::LocalRun {
                rev: cmd.payload.clone(),
                commit: true,
            }),
            CommandOp::RunGc => self.command(Command::RunGc),
            CommandOp::GoRemote => {
                info!("going remote");
                self.go_remote = true;
                Ok(())
            }
            other => {
                warn!("command {other:?} is not available in appengine mode");
                Ok(())
            }
        };
        if let Err(e) = r {
            warn!("command {:?} {}: {e}", cmd.op, cmd.payload);
        }
    }

    fn answer(&mut self, p: Pending) {
        let reply = self.reply_to(&p.caller, p.request.clone());
        p.reply(reply);
    }

    fn reply_to(&mut self, caller: &Caller, req: CtrlRequest) -> CtrlReply {
        let now = Instant::now();
        match req {
            CtrlRequest::ListContainers => CtrlReply::Containers(self.containers(now)),
            CtrlRequest::ListGroups => CtrlReply::Groups(self.groups(now)),
            CtrlRequest::ContainerAction { name, action } => self.container_action(&name, action),
            CtrlRequest::Signal(s) => {
                let engine = self.engine.as_mut();
                rules::signal(caller, &s, |name| {
                    engine.is_some_and(|e| e.signal_ready(name))
                })
            }
            CtrlRequest::Command(cmd) => {
                let facts = CommandFacts {
                    update_in_progress: self.update.is_some(),
                    control_remote: self.cfg.get_bool(pv_config::Key::PvControlRemote),
                    remote_mode: self.hub.is_some() && self.remote_mode(),
                    claimed: crate::hubfiles::is_claimed(&self.cfg),
                    ..Default::default()
                };
                match self.ctrl.as_mut() {
                    Some(c) => rules::command(&cmd, facts, &mut c.slot),
                    None => ApiError::internal("no control socket").into(),
                }
            }
            CtrlRequest::ListObjects => {
                match ObjectStore::open(self.layout.objects()).map(|s| s.list().map(|l| (s, l))) {
                    Ok(Ok((s, ids))) => CtrlReply::Objects(
                        ids.iter()
                            .map(|id| ObjectInfo {
                                sha256: id.to_hex(),
                                size: s.path(id).metadata().map(|m| m.len()).unwrap_or(0),
                            })
                            .collect(),
                    ),
                    _ => ApiError::internal("Cannot list objects").into(),
                }
            }
            CtrlRequest::PutObject { id, temp_path } => {
                let target = self.layout.objects().join(id.to_hex());
                match pv_fs::rename_durable(&temp_path, &target) {
                    Ok(()) => CtrlReply::Ok,
                    Err(e) => ApiError::internal(format!("Cannot save object: {e}")).into(),
                }
            }
            CtrlRequest::ListSteps => CtrlReply::Steps(self.steps()),
            CtrlRequest::GetStep { rev } => {
                CtrlReply::JsonFile(self.layout.trail(&self.resolve_rev(&rev)).join(".pvr/json"))
            }
            CtrlRequest::GetStepProgress { rev } => CtrlReply::JsonFile(
                self.layout
                    .trail(&self.resolve_rev(&rev))
                    .join(".pv/progress"),
            ),
            CtrlRequest::PutStep { rev, json } => self.put_step(&rev, &json),
            CtrlRequest::PutCommitMsg { rev, message } => {
                let p = self.layout.trail(&self.resolve_rev(&rev)).join(".pv");
                match std::fs::create_dir_all(&p)
                    .map_err(|e| e.to_string())
                    .and_then(|_| {
                        pv_fs::write_atomic(p.join("commitmsg"), &message)
                            .map_err(|e| e.to_string())
                    }) {
                    Ok(()) => CtrlReply::Ok,
                    Err(_) => ApiError::commitmsg_not_written().into(),
                }
            }
            CtrlRequest::ListMeta { kind } => {
                let store = match kind {
                    MetaKind::User => self.meta.user.as_ref(),
                    MetaKind::Device => self.meta.device.as_ref(),
                };
                CtrlReply::Json(store.map(|s| s.render()).unwrap_or_else(|| "{}".into()))
            }
            CtrlRequest::PutMeta { kind, key, value } => {
                let store = match kind {
                    MetaKind::User => self.meta.user.as_mut(),
                    MetaKind::Device => self.meta.device.as_mut(),
                };
                match store.map(|s| s.set(&key, &value)) {
                    Some(Ok(_)) => {
                        if kind == MetaKind::User {
                            crate::metadata::user_meta_saved(&mut self.cfg, &key, &value);
                        }
                        CtrlReply::Ok
                    }
                    _ => ApiError::meta_not_written(kind, 500).into(),
                }
            }
            CtrlRequest::DeleteMeta { kind, key } => {
                let store = match kind {
                    MetaKind::User => self.meta.user.as_mut(),
                    MetaKind::Device => self.meta.device.as_mut(),
                };
                match store.map(|s| s.remove(&key)) {
                    Some(Ok(true)) => {
                        if kind == MetaKind::User {
                            let user = self.meta.user.as_ref();
                            crate::metadata::user_meta_removed(&mut self.cfg, user, &key);
                        }
                        CtrlReply::Ok
                    }
                    _ => ApiError::meta_not_found(kind).into(),
                }
            }
            CtrlRequest::XconnectGraph => CtrlReply::Json(self.xconnect_graph_json()),
            CtrlRequest::Wakelocks => CtrlReply::Json("[]".into()),
            CtrlRequest::BuildInfo => {
                CtrlReply::Text(format!("pantavisor (rust) {}\n", env!("CARGO_PKG_VERSION")))
            }
            CtrlRequest::ListDrivers => CtrlReply::Drivers(self.list_drivers(caller)),
            CtrlRequest::LoadDrivers { name } => self.manual_drivers(caller, name.as_deref(), true),
            CtrlRequest::UnloadDrivers { name } => {
                self.manual_drivers(caller, name.as_deref(), false)
            }
            CtrlRequest::ListDaemons => {
                CtrlReply::Daemons(self.daemons.as_ref().map(|d| d.list()).unwrap_or_default())
            }
            CtrlRequest::DaemonAction { name, action } => {
                let known = self.daemons.as_mut().filter(|d| d.knows(&name));
                match (known, action) {
                    (None, _) => ApiError::daemon_not_found().into(),
                    (Some(_), Err(e)) => e.into(),
                    (Some(d), Ok(a)) => match d.action(&name, a) {
                        Err(Refused::NotNeeded { needs }) => ApiError::new(
                            409,
                            format!(
                                "Daemon not needed: no container of the running revision uses {name} ({} is not made)",
                                needs.display()
                            ),
                        )
                        .into(),
                        Err(Refused::NotFound) => ApiError::daemon_not_found().into(),
                        Ok(()) => CtrlReply::Ok,
                    },
                }
            }
            CtrlRequest::Config => CtrlReply::Json(self.cfg.to_legacy_json()),
            CtrlRequest::Config2 => CtrlReply::Json(self.cfg.to_complete_json()),
            CtrlRequest::RunGc => {
                let keep = self.gc_keep();
                match gc::run(&self.layout, &keep) {
                    Ok(r) => CtrlReply::Gc { reclaimed: r.bytes },
                    Err(_) => ApiError::gc_failed().into(),
                }
            }
        }
    }

    fn resolve_rev(&self, rev: &str) -> String {
        if rev == "current" {
            self.rev.clone()
        } else {
            rev.to_string()
        }
    }

    fn containers(&self, now: Instant) -> Vec<ContainerInfo> {
        let Some(e) = &self.engine else { return vec![] };
        e.platforms
            .iter()
            .map(|p| {
                let ar = p
                    .def
                    .auto_recovery
                    .as_ref()
                    .filter(|a| a.policy != crate::model::RecoveryPolicy::No);
                ContainerInfo {
                    name: p.def.name.clone(),
                    group: e.model.groups[p.def.group].name.clone(),
                    status: p.status.as_str().into(),
                    status_goal: p.def.goal.as_str().into(),
                    restart_policy: p.def.restart_policy.as_str().into(),
                    roles: p.def.roles.clone(),
                    auto_recovery: ar.map(|a| AutoRecoveryInfo {
                        policy: a
                            .raw
                            .get("policy")
                            .and_then(|v| v.as_str())
                            .unwrap_or("no")
                            .into(),
                        max_retries: a.max_retries,
                        current_retries: p.retries,
                        stable_timeout: a.stable_timeout.as_secs(),
                        is_stable: !a.stable_timeout.is_zero()
                            && p.goal_reached_at
                                .is_some_and(|t| now >= t + a.stable_timeout),
                        backoff_policy: a
                            .raw
                            .get("backoff_policy")
                            .and_then(|v| v.as_str())
                            .unwrap_or("reboot")
                            .into(),
                    }),
                    user_stopped: (p.def.restart_policy == RestartPolicy::Container)
                        .then_some(p.user_stopped),
                }
            })
            .collect()
    }

    fn groups(&self, now: Instant) -> Vec<GroupInfo> {
        let Some(e) = &self.engine else { return vec![] };
        e.model
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| GroupInfo {
                name: g.name.clone(),
                status_goal: g.goal.as_str().into(),
                restart_policy: g.restart_policy.as_str().into(),
                status: e.group_status(i, now).as_str().into(),
                auto_recovery: g.auto_recovery.as_ref().map(|a| GroupAutoRecovery {
                    max_retries: a.max_retries,
                    stable_timeout: a.stable_timeout.as_secs(),
                    backoff_policy: a
                        .raw
                        .get("backoff_policy")
                        .and_then(|v| v.as_str())
                        .unwrap_or("reboot")
                        .into(),
                }),
            })
            .collect()
    }

    fn container_action(
        &mut self,
        name: &str,
        action: Result<ContainerAction, ApiError>,
    ) -> CtrlReply {
        let engine = self.engine.as_mut();
        let policy = engine.as_ref().and_then(|e| {
            e.platforms
                .iter()
                .find(|p| p.def.name == name)
                .map(|p| p.def.restart_policy.as_str())
        });
        let Some(e) = engine else {
            return ApiError::container_not_found().into();
        };
        rules::container_action(policy, &action, |a| {
            let a = match a {
                ContainerAction::Start => Action::Start,
                ContainerAction::Stop => Action::Stop,
                ContainerAction::Restart => Action::Restart,
            };
            e.container_action(name, a).map_err(|err| match err {
                ActionError::NotFound(_) => ActionRefusal::NotFound,
                ActionError::SystemPolicy(_) => ActionRefusal::Protected,
                ActionError::BadState(..) => ActionRefusal::WrongState,
            })
        })
    }

    fn steps(&self) -> Vec<StepInfo> {
        gc::revisions(&self.layout)
            .into_iter()
            .map(|rev| {
                let t = self.layout.trail(&rev);
                let date = std::fs::metadata(t.join(".pvr/json"))
                    .and_then(|m| m.modified())
                    .map(rfc3339)
                    .unwrap_or_default();
                StepInfo {
                    commitmsg: std::fs::read_to_string(t.join(".pv/commitmsg")).unwrap_or_default(),
                    progress: std::fs::read_to_string(t.join(".pv/progress")).ok(),
                    name: rev,
                    date,
                }
            })
            .collect()
    }

    /// `PUT /steps/locals/<name>`: a state for a later LOCAL_RUN.
    pub(crate) fn put_step(&mut self, rev: &str, json: &[u8]) -> CtrlReply {
        let in_use = self.gc_keep().contains(rev);
        let dir = self.layout.trail(rev);
        let reject = |dir: &std::path::Path, e: ApiError| -> CtrlReply {
            if !in_use {
                let _ = std::fs::remove_dir_all(dir);
            }
            e.into()
        };
        if let Err(e) = rules::step(json, in_use) {
            warn!("step {rev} refused: {}", e.message());
            return reject(&dir, e);
        }
        if let Err((short, detail)) = crate::device::check_signatures(&self.cfg, json) {
            warn!("step {rev} refused: {detail}");
            return reject(&dir, rules::step_signature_refused(&short));
        }
        let _ = std::fs::remove_dir_all(&dir);
        let write = || -> Result<(), pv_fs::FsError> {
            std::fs::create_dir_all(dir.join(".pvr"))
                .map_err(|e| pv_fs::FsError::new("create directory", &dir, e))?;
            progress::write(&self.layout, rev, &Progress::new("NEW", msg::NOT_INSTALLED))?;
            pv_fs::write_atomic(dir.join(".pvr/json"), json)?;
            progress::write(&self.layout, rev, &Progress::new("NEW", msg::READY_TO_RUN))
        };
        match write() {
            Ok(()) => CtrlReply::Ok,
            Err(e) => reject(&dir, ApiError::step_rejected(e.to_string())),
        }
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> ApiError {
        match e {
            CommandError::Busy => ApiError::update_ongoing(),
            other => ApiError::internal(other.to_string()),
        }
    }
}
