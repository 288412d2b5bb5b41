//! Test support (feature `testing`): a [`FakeDevice`] runs the real server
//! on a socket in a temp directory and answers every [`Pending`] from fixed
//! data on an owner thread of its own. It stands in for the runtime in this
//! crate's and `pvcontrol`'s tests only: what it decides from its data goes
//! through the same [`crate::rules`] as the runtime's answers.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::{
    rules, ApiError, AutoRecoveryInfo, Caller, CallerResolver, Command, CommandFacts,
    ContainerAction, ContainerInfo, CtrlConfig, CtrlReply, CtrlRequest, CtrlServer, DaemonAction,
    DaemonInfo, GroupInfo, MetaKind, ObjectInfo, Pending, StepInfo,
};

/// A resolver that maps known pids to callers and every other pid to
/// `default`.
pub fn pid_resolver(map: Vec<(i32, Caller)>, default: Caller) -> Arc<dyn CallerResolver> {
    let map: HashMap<i32, Caller> = map.into_iter().collect();
    Arc::new(move |pid: i32| map.get(&pid).cloned().unwrap_or_else(|| default.clone()))
}

/// A non-`mgmt` container caller.
pub fn app(name: &str) -> Caller {
    Caller::Container {
        name: name.into(),
        mgmt: false,
    }
}

/// What the fake device knows; tests may change it through
/// [`FakeDevice::state`].
#[derive(Debug, Default)]
pub struct FakeState {
    /// Facts for [`Command::admit`] (`slot_busy` is derived from `slot`).
    pub facts: CommandFacts,
    /// The one-command slot.
    pub slot: Option<Command>,
    /// Every request received, with its caller.
    pub log: Vec<(Caller, CtrlRequest)>,
    pub user_meta: Vec<(String, String)>,
    pub device_meta: Vec<(String, String)>,
    pub containers: Vec<ContainerInfo>,
    pub daemons: Vec<DaemonInfo>,
    /// Names of stored steps.
    pub steps: Vec<String>,
}

/// The real server plus a fake owner of state.
pub struct FakeDevice {
    /// Holds `run/pv-ctrl`, `storage/objects`, `storage/trails`.
    pub dir: tempfile::TempDir,
    server: Option<CtrlServer>,
    owner: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    state: Arc<Mutex<FakeState>>,
}

fn container(name: &str, group: &str, policy: &str, roles: &[&str]) -> ContainerInfo {
    let app = policy == "container";
    ContainerInfo {
        name: name.into(),
        group: group.into(),
        status: "STARTED".into(),
        status_goal: "STARTED".into(),
        restart_policy: policy.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        auto_recovery: app.then(|| AutoRecoveryInfo {
            policy: "on-failure".into(),
            max_retries: 5,
            current_retries: 0,
            stable_timeout: 30,
            is_stable: false,
            backoff_policy: "reboot".into(),
        }),
        user_stopped: app.then_some(false),
    }
}

impl FakeDevice {
    /// Start with `resolver` deciding who calls. The device has a mgmt
    /// container `M` (system policy), a container `A` (container policy,
    /// group `app`), a factory step `0` with progress DONE, and daemons
    /// `hwrngd` and `pv-xconnect`.
    pub fn start(resolver: Arc<dyn CallerResolver>) -> FakeDevice {
        let dir = tempfile::tempdir().expect("temp dir");
        let storage = dir.path().join("storage");
        let trail0 = storage.join("trails/0");
        std::fs::create_dir_all(trail0.join(".pvr")).unwrap();
        std::fs::create_dir_all(trail0.join(".pv")).unwrap();
        std::fs::write(
            trail0.join(".pvr/json"),
            "{\"#spec\":\"pantavisor-service-system@1\"}",
        )
        .unwrap();
        std::fs::write(
            trail0.join(".pv/progress"),
            "{\"status\":\"DONE\",\"status-msg\":\"Factory revision\",\"progress\":100,\"retries\":0}",
        )
        .unwrap();
        std::os::unix::fs::symlink("0", storage.join("trails/current")).unwrap();
        let cfg = CtrlConfig::new(dir.path().join("run"), storage.join("objects"));
        let (server, queue) = CtrlServer::start(cfg, resolver).expect("start server");
        let state = Arc::new(Mutex::new(FakeState {
            device_meta: vec![
                ("pantavisor.revision".into(), "0".into()),
                ("pantavisor.status".into(), "READY".into()),
                ("pantavisor.mode".into(), "local".into()),
            ],
            containers: vec![
                container("M", "platform", "system", &["mgmt"]),
                container("A", "app", "container", &[]),
            ],
            daemons: vec![
                DaemonInfo {
                    name: "hwrngd".into(),
                    pid: 0,
                    respawn: false,
                },
                DaemonInfo {
                    name: "pv-xconnect".into(),
                    pid: 4242,
                    respawn: true,
                },
            ],
            steps: vec!["0".into()],
            ..FakeState::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let owner = {
            let (state, stop, storage) = (Arc::clone(&state), Arc::clone(&stop), storage.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    if let Some(p) = queue.next_timeout(Duration::from_millis(20)) {
                        answer(p, &state, &storage);
                    }
                }
            })
        };
        FakeDevice {
            dir,
            server: Some(server),
            owner: Some(owner),
            stop,
            state,
        }
    }

    /// The control socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("run/pv-ctrl")
    }

    /// The object pool.
    pub fn objects_dir(&self) -> PathBuf {
        self.dir.path().join("storage/objects")
    }

    /// The storage root.
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// Lock the fake state.
    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A WAIT tick: consume the command slot, returning what it held.
    pub fn tick(&self) -> Option<Command> {
        self.state().slot.take()
    }
}

impl Drop for FakeDevice {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            let _ = s.stop();
        }
        self.stop.store(true, Ordering::SeqCst);
        if let Some(o) = self.owner.take() {
            let _ = o.join();
        }
    }
}

fn render_meta(pairs: &[(String, String)]) -> String {
    let items: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}:{}", pv_json::quote(k), pv_json::quote(v)))
        .collect();
    format!("{{{}}}", items.join(","))
}

fn answer(p: Pending, state: &Mutex<FakeState>, storage: &std::path::Path) {
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    st.log.push((p.caller.clone(), p.request.clone()));
    let objects = storage.join("objects");
    let trail = |rev: &str| storage.join("trails").join(rev);
    use CtrlRequest as R;
    let reply = match &p.request {
        R::ListContainers => CtrlReply::Containers(st.containers.clone()),
        R::ContainerAction { name, action } => {
            let c = st.containers.iter_mut().find(|c| &c.name == name);
            let policy = c.as_ref().map(|c| c.restart_policy.clone());
            rules::container_action(policy.as_deref(), action, |a| {
                let c = c.expect("admitted: the container exists");
                let stop = a == ContainerAction::Stop;
                c.status = if stop { "STOPPED" } else { "STARTED" }.into();
                c.user_stopped = Some(stop);
                Ok(())
            })
        }
        R::ListGroups => CtrlReply::Groups(vec![GroupInfo {
            name: "app".into(),
            status_goal: "STARTED".into(),
            restart_policy: "container".into(),
            status: "READY".into(),
            auto_recovery: None,
        }]),
        R::Signal(sig) => rules::signal(&p.caller, sig, |name| name == "ready-app"),
        R::Command(cmd) => {
            let facts = st.facts;
            rules::command(cmd, facts, &mut st.slot)
        }
        R::ListObjects => {
            let mut v: Vec<ObjectInfo> = std::fs::read_dir(&objects)
                .map(|d| {
                    d.flatten()
                        .filter_map(|e| {
                            let name = e.file_name().to_str()?.to_string();
                            (name.len() == 64 && !name.starts_with('.')).then(|| ObjectInfo {
                                sha256: name,
                                size: e.metadata().map(|m| m.len()).unwrap_or(0),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            v.sort_by(|a, b| a.sha256.cmp(&b.sha256));
            CtrlReply::Objects(v)
        }
        R::PutObject { id, temp_path } => {
            match std::fs::rename(temp_path, objects.join(id.to_hex())) {
                Ok(()) => CtrlReply::Ok,
                Err(_) => ApiError::no_space().into(),
            }
        }
        R::ListSteps => CtrlReply::Steps(
            st.steps
                .iter()
                .map(|s| StepInfo {
                    name: s.clone(),
                    date: "2026-07-01T10:00:00Z".into(),
                    commitmsg: std::fs::read_to_string(trail(s).join(".pv/commitmsg"))
                        .unwrap_or_default(),
                    progress: std::fs::read_to_string(trail(s).join(".pv/progress")).ok(),
                })
                .collect(),
        ),
        R::GetStep { rev } => CtrlReply::JsonFile(trail(rev).join(".pvr/json")),
        R::GetStepProgress { rev } => CtrlReply::JsonFile(trail(rev).join(".pv/progress")),
        R::PutStep { rev, json } => {
            if let Err(e) = rules::step(json, rev == "0") {
                e.into()
            } else {
                let t = trail(rev);
                std::fs::create_dir_all(t.join(".pvr")).unwrap();
                std::fs::create_dir_all(t.join(".pv")).unwrap();
                std::fs::write(t.join(".pvr/json"), json).unwrap();
                std::fs::write(
                    t.join(".pv/progress"),
                    "{\"status\":\"NEW\",\"status-msg\":\"Update ready to be run\",\"progress\":0}",
                )
                .unwrap();
                if !st.steps.contains(rev) {
                    st.steps.push(rev.clone());
                }
                CtrlReply::Ok
            }
        }
        R::PutCommitMsg { rev, message } => {
            let d = trail(rev).join(".pv");
            match std::fs::create_dir_all(&d)
                .and_then(|_| std::fs::write(d.join("commitmsg"), message))
            {
                Ok(()) => CtrlReply::Ok,
                Err(_) => ApiError::commitmsg_not_written().into(),
            }
        }
        R::ListMeta { kind } => CtrlReply::Json(render_meta(match kind {
            MetaKind::User => &st.user_meta,
            MetaKind::Device => &st.device_meta,
        })),
        R::PutMeta { kind, key, value } => {
            let m = match kind {
                MetaKind::User => &mut st.user_meta,
                MetaKind::Device => &mut st.device_meta,
            };
            match m.iter_mut().find(|(k, _)| k == key) {
                Some(e) => e.1 = value.clone(),
                None => m.insert(0, (key.clone(), value.clone())),
            }
            CtrlReply::Ok
        }
        R::DeleteMeta { kind, key } => {
            let m = match kind {
                MetaKind::User => &mut st.user_meta,
                MetaKind::Device => &mut st.device_meta,
            };
            let before = m.len();
            m.retain(|(k, _)| k != key);
            if m.len() == before {
                ApiError::meta_not_found(*kind).into()
            } else {
                CtrlReply::Ok
            }
        }
        R::XconnectGraph => CtrlReply::Json("[]".into()),
        R::BuildInfo => CtrlReply::Text("pantavisor: test build\n".into()),
        R::ListDrivers => CtrlReply::Drivers(vec![]),
        R::LoadDrivers { .. } | R::UnloadDrivers { .. } => CtrlReply::Ok,
        R::ListDaemons => CtrlReply::Daemons(st.daemons.clone()),
        R::DaemonAction { name, action } => match st.daemons.iter_mut().find(|d| &d.name == name) {
            None => ApiError::daemon_not_found().into(),
            Some(d) => match action {
                Err(e) => e.clone().into(),
                Ok(DaemonAction::Stop) => {
                    d.respawn = false;
                    d.pid = -1;
                    CtrlReply::Ok
                }
                Ok(DaemonAction::Start) => {
                    d.respawn = true;
                    d.pid = 4343;
                    CtrlReply::Ok
                }
                Ok(DaemonAction::None) => CtrlReply::Ok,
            },
        },
        R::Config => CtrlReply::Json("{\"log.level\":0}".into()),
        R::Config2 => CtrlReply::Json(
            "[{\"key\":\"PV_LOG_LEVEL\",\"value\":\"0\",\"modified\":\"default\"}]".into(),
        ),
        R::RunGc => CtrlReply::Gc { reclaimed: 42 },
        R::Wakelocks => CtrlReply::Json("[]".into()),
    };
    drop(st);
    p.reply(reply);
}
