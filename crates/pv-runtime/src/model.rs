//! A revision's containers and groups, as the runtime sees them
//! (`pantavisor-service-system@1`, spec §5.1-5.3).

use std::time::Duration;

use pv_types::manifest::{self, DeviceJson, Group, RunJson};
use pv_types::State;
use serde_json::{Map, Value};

/// Container status, in the original's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    None,
    Installed,
    Mounted,
    Blocked,
    Starting,
    Started,
    Ready,
    Recovering,
    Stopping,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::None => "NONE",
            Status::Installed => "INSTALLED",
            Status::Mounted => "MOUNTED",
            Status::Blocked => "BLOCKED",
            Status::Starting => "STARTING",
            Status::Started => "STARTED",
            Status::Ready => "READY",
            Status::Recovering => "RECOVERING",
            Status::Stopping => "STOPPING",
            Status::Stopped => "STOPPED",
        }
    }
}

/// A status goal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    Mounted,
    Started,
    Ready,
}

impl Goal {
    pub fn parse(s: &str) -> Option<Goal> {
        match s {
            "MOUNTED" => Some(Goal::Mounted),
            "STARTED" => Some(Goal::Started),
            "READY" => Some(Goal::Ready),
            _ => None,
        }
    }
    pub fn status(self) -> Status {
        match self {
            Goal::Mounted => Status::Mounted,
            Goal::Started => Status::Started,
            Goal::Ready => Status::Ready,
        }
    }
    pub fn as_str(self) -> &'static str {
        self.status().as_str()
    }
}

/// Who restarts what when a container changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    System,
    Container,
}

impl RestartPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            RestartPolicy::System => "system",
            RestartPolicy::Container => "container",
        }
    }
}

/// `auto_recovery.policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryPolicy {
    No,
    OnFailure,
    Always,
    UnlessStopped,
}

/// What happens once `max_retries` is exhausted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BackoffPolicy {
    Reboot,
    Never,
    Wait(Duration),
}

/// An `auto_recovery` object.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoRecovery {
    pub policy: RecoveryPolicy,
    pub max_retries: u32,
    pub retry_delay: Duration,
    pub backoff_factor: f64,
    pub reset_window: Duration,
    pub stable_timeout: Duration,
    pub backoff_policy: BackoffPolicy,
    /// The object as written, for the control API.
    pub raw: Map<String, Value>,
}

fn num(m: &Map<String, Value>, k: &str) -> Option<f64> {
    match m.get(k)? {
        Value::Number(n) => n.as_str().parse().ok(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A duration like `10min`, `30s`, `2h` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (n, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map(|i| s.split_at(i))
        .unwrap_or((s, ""));
    let n: u64 = n.parse().ok()?;
    let mult = match unit {
        "" | "s" => 1,
        "min" | "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return None,
    };
    Some(Duration::from_secs(n * mult))
}

impl AutoRecovery {
    /// Parse an `auto_recovery` object (invalid fields fall back to defaults).
    pub fn parse(m: &Map<String, Value>) -> AutoRecovery {
        let secs = |k| Duration::from_secs_f64(num(m, k).unwrap_or(0.0).max(0.0));
        let policy = match m.get("policy").and_then(Value::as_str).unwrap_or("no") {
            "always" => RecoveryPolicy::Always,
            "on-failure" => RecoveryPolicy::OnFailure,
            "unless-stopped" => RecoveryPolicy::UnlessStopped,
            _ => RecoveryPolicy::No,
        };
        let backoff_policy = match m.get("backoff_policy") {
            None => BackoffPolicy::Reboot,
            Some(Value::String(s)) if s == "reboot" => BackoffPolicy::Reboot,
            Some(Value::String(s)) if s == "never" => BackoffPolicy::Never,
            Some(Value::String(s)) => parse_duration(s)
                .map(BackoffPolicy::Wait)
                .unwrap_or(BackoffPolicy::Reboot),
            Some(Value::Number(n)) => n
                .as_str()
                .parse::<f64>()
                .map(|f| BackoffPolicy::Wait(Duration::from_secs_f64(f.max(0.0))))
                .unwrap_or(BackoffPolicy::Reboot),
            _ => BackoffPolicy::Reboot,
        };
        AutoRecovery {
            policy,
            max_retries: num(m, "max_retries").unwrap_or(0.0).max(0.0) as u32,
            retry_delay: secs("retry_delay"),
            backoff_factor: num(m, "backoff_factor").unwrap_or(1.0),
            reset_window: secs("reset_window"),
            stable_timeout: secs("stable_timeout"),
            backoff_policy,
            raw: m.clone(),
        }
    }

    /// The delay before retry number `n` (1-based).
    pub fn delay_for(&self, n: u32) -> Duration {
        let base = self.retry_delay.as_secs_f64();
        let f = if self.backoff_factor > 1.0 {
            self.backoff_factor.powi(n.saturating_sub(1) as i32)
        } else {
            1.0
        };
        Duration::from_secs((base * f) as u64)
    }
}

/// A group of a revision.
#[derive(Debug, Clone)]
pub struct GroupDef {
    pub name: String,
    pub goal: Goal,
    pub restart_policy: RestartPolicy,
    pub timeout: Duration,
    pub auto_recovery: Option<AutoRecovery>,
}

/// Persistence of a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    Permanent,
    Revision,
    Boot,
}

/// A storage volume of a container (`storage` in run.json).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeDef {
    pub name: String,
    pub persistence: Persistence,
    pub disk: Option<String>,
}

/// A container of a revision.
#[derive(Debug, Clone)]
pub struct PlatformDef {
    pub name: String,
    pub group: usize,
    pub goal: Goal,
    pub restart_policy: RestartPolicy,
    pub roles: Vec<String>,
    /// LXC config file, relative to the container dir.
    pub config: Option<String>,
    /// Image files to mount (root volume first), relative to the container dir.
    pub images: Vec<String>,
    pub storage: Vec<VolumeDef>,
    pub auto_recovery: Option<AutoRecovery>,
    /// Managed drivers it refers to (spec §5.13).
    pub drivers: Vec<(String, crate::drivers::DriverUse)>,
    pub run: RunJson,
}

/// A parsed revision.
#[derive(Debug, Clone)]
pub struct RevisionModel {
    pub groups: Vec<GroupDef>,
    pub platforms: Vec<PlatformDef>,
    /// `bsp/drivers.json`.
    pub drivers_json: Option<Value>,
    /// `device.json` and legacy `disks.json`, for the disks (checked here,
    /// laid out on the storage by the engine).
    pub device_json: Option<Value>,
    pub disks_json: Option<Value>,
    /// The xconnect graph: exports and requirements (spec §12).
    pub xconnect: pv_xconnect::RevisionGraph,
}

/// Why a state cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// `key` is not the JSON its format asks for.
    #[error("{key}")]
    BadJson {
        key: String,
        #[source]
        source: serde_json::Error,
    },
    /// The disks of device.json / disks.json are not valid definitions.
    #[error("disks")]
    BadDisks(#[source] pv_disks::Error),
    #[error("container {0}: group {1:?} does not exist")]
    UnknownGroup(String, String),
    #[error("container {0}: invalid {1} {2:?}")]
    BadValue(String, &'static str, String),
    #[error("state has no pantavisor-service-system@1 #spec")]
    BadSpec,
    #[error("xconnect")]
    Xconnect(#[source] pv_xconnect::Error),
}

/// The built-in groups (spec §5.3).
pub fn default_groups() -> Vec<GroupDef> {
    let g = |name: &str, goal, rp, ar: Option<AutoRecovery>| GroupDef {
        name: name.into(),
        goal,
        restart_policy: rp,
        timeout: Duration::from_secs(30),
        auto_recovery: ar,
    };
    let app_ar = serde_json::json!({"policy":"on-failure","max_retries":5,"retry_delay":5,"backoff_factor":2.0,"stable_timeout":30,"backoff_policy":"reboot"});
    vec![
        g("data", Goal::Mounted, RestartPolicy::System, None),
        g("root", Goal::Started, RestartPolicy::System, None),
        g("platform", Goal::Started, RestartPolicy::System, None),
        g(
            "app",
            Goal::Started,
            RestartPolicy::Container,
            Some(AutoRecovery::parse(app_ar.as_object().expect("object"))),
        ),
    ]
}

fn group_def(g: &Group, default_timeout: Duration) -> Result<GroupDef, ModelError> {
    let goal = match &g.status_goal {
        None => Goal::Started,
        Some(s) => Goal::parse(s).ok_or_else(|| {
            ModelError::BadValue(format!("group {}", g.name), "status_goal", s.clone())
        })?,
    };
    let restart_policy = match g.restart_policy.as_deref() {
        None | Some("container") => RestartPolicy::Container,
        Some("system") => RestartPolicy::System,
        Some(o) => {
            return Err(ModelError::BadValue(
                format!("group {}", g.name),
                "restart_policy",
                o.into(),
            ))
        }
    };
    Ok(GroupDef {
        name: g.name.clone(),
        goal,
        restart_policy,
        timeout: g
            .timeout_secs()
            .map(Duration::from_secs)
            .unwrap_or(default_timeout),
        auto_recovery: g.auto_recovery.as_ref().map(AutoRecovery::parse),
    })
}

/// Parse a state into containers and groups. `default_timeout` is the
/// goal timeout of explicit groups that set none (`PV_UPDATER_GOALS_TIMEOUT`).
pub fn parse(state: &State, default_timeout: Duration) -> Result<RevisionModel, ModelError> {
    if state.spec() != Some(pv_types::SPEC_SERVICE_SYSTEM) {
        return Err(ModelError::BadSpec);
    }
    let mut explicit = false;
    let mut groups = match state.get("device.json") {
        Some(v) => {
            let d: DeviceJson = manifest::parse(v).map_err(|source| ModelError::BadJson {
                key: "device.json".into(),
                source,
            })?;
            match d.groups {
                Some(gs) if !gs.is_empty() => {
                    explicit = true;
                    gs.iter()
                        .map(|g| group_def(g, default_timeout))
                        .collect::<Result<Vec<_>, _>>()?
                }
                _ => default_groups(),
            }
        }
        None => default_groups(),
    };
    if !explicit {
        if let Some(Value::Array(_)) = state.get("groups.json") {
            let gs: Vec<Group> = manifest::parse(state.get("groups.json").expect("present"))
                .map_err(|source| ModelError::BadJson {
                    key: "groups.json".into(),
                    source,
                })?;
            if !gs.is_empty() {
                explicit = true;
                groups = gs
                    .iter()
                    .map(|g| group_def(g, default_timeout))
                    .collect::<Result<Vec<_>, _>>()?;
            }
        }
    }
    let mut platforms = vec![];
    let mut unassigned = vec![];
    for (k, v) in state.iter() {
        let Some(dir) = k.strip_suffix("/run.json") else {
            continue;
        };
        if dir == "bsp" || dir.contains('/') {
            continue;
        }
        let run: RunJson = manifest::parse(v).map_err(|source| ModelError::BadJson {
            key: k.clone(),
            source,
        })?;
        let name = dir.to_string();
        let group_name = run.group.clone().or_else(|| run.runlevel.clone());
        let group = match &group_name {
            Some(g) => Some(
                groups
                    .iter()
                    .position(|x| &x.name == g)
                    .ok_or_else(|| ModelError::UnknownGroup(name.clone(), g.clone()))?,
            ),
            None => None,
        };
        let mut storage = vec![];
        for (vol, spec) in run.storage.clone().unwrap_or_default() {
            let persistence = match spec.get("persistence").and_then(Value::as_str) {
                Some("permanent") => Persistence::Permanent,
                Some("revision") => Persistence::Revision,
                _ => Persistence::Boot,
            };
            pv_fs::validate_rel_path(&vol).map_err(|e| {
                ModelError::BadValue(name.clone(), "storage volume", format!("{vol}: {e}"))
            })?;
            storage.push(VolumeDef {
                name: vol,
                persistence,
                disk: spec.get("disk").and_then(Value::as_str).map(String::from),
            });
        }
        let images: Vec<String> = run.volume_files().into_iter().map(|v| v.path).collect();
        for f in images.iter().chain(run.config.iter()) {
            pv_fs::validate_rel_path(f)
                .map_err(|e| ModelError::BadValue(name.clone(), "volume", format!("{f}: {e}")))?;
        }
        let p = PlatformDef {
            name: name.clone(),
            group: group.unwrap_or(0),
            goal: Goal::Started,
            restart_policy: RestartPolicy::Container,
            roles: run.role_names(),
            config: run.config.clone(),
            images,
            storage,
            auto_recovery: run.auto_recovery.as_ref().map(AutoRecovery::parse),
            drivers: crate::drivers::container_drivers(run.drivers.as_ref()),
            run,
        };
        if group.is_none() {
            unassigned.push(platforms.len());
        }
        platforms.push(p);
    }
    // containers without a group (spec §5.3)
    if !unassigned.is_empty() {
        let root = groups.iter().position(|g| g.name == "root");
        let platform = groups.iter().position(|g| g.name == "platform");
        let root_taken = platforms
            .iter()
            .enumerate()
            .any(|(i, p)| !unassigned.contains(&i) && Some(p.group) == root);
        for (n, &i) in unassigned.iter().enumerate() {
            platforms[i].group = if explicit {
                groups.len() - 1
            } else if n == 0 && !root_taken && root.is_some() {
                root.expect("checked")
            } else {
                platform.unwrap_or(groups.len() - 1)
            };
        }
    }
    for p in &mut platforms {
        let g = &groups[p.group];
        p.goal = match &p.run.status_goal {
            Some(s) => Goal::parse(s)
                .ok_or_else(|| ModelError::BadValue(p.name.clone(), "status_goal", s.clone()))?,
            None => g.goal,
        };
        p.restart_policy = match p.run.restart_policy.as_deref() {
            None => g.restart_policy,
            Some("system") => RestartPolicy::System,
            Some("container") => RestartPolicy::Container,
            Some(o) => {
                return Err(ModelError::BadValue(
                    p.name.clone(),
                    "restart_policy",
                    o.into(),
                ))
            }
        };
        let own_policy = p
            .auto_recovery
            .as_ref()
            .map(|a| a.policy)
            .unwrap_or(RecoveryPolicy::No);
        if own_policy == RecoveryPolicy::No {
            if let Some(ar) = &g.auto_recovery {
                p.auto_recovery = Some(ar.clone());
            }
        }
    }
    let device_json = state.get("device.json").cloned();
    let disks_json = state.get("disks.json").cloned();
    let disks = pv_disks::parse(
        device_json.as_ref(),
        disks_json.as_ref(),
        std::path::Path::new("/storage"),
    )
    .map_err(ModelError::BadDisks)?;
    for p in &platforms {
        for v in p.storage.iter().filter_map(|v| v.disk.as_ref()) {
            if !disks.iter().any(|d| &d.name == v) {
                return Err(ModelError::BadValue(p.name.clone(), "disk", v.clone()));
            }
        }
    }
    let xconnect =
        pv_xconnect::RevisionGraph::from_state(state.iter()).map_err(ModelError::Xconnect)?;
    Ok(RevisionModel {
        groups,
        platforms,
        drivers_json: state.get("bsp/drivers.json").cloned(),
        device_json,
        disks_json,
        xconnect,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(s: &str) -> State {
        State::from_slice(s.as_bytes()).unwrap()
    }

    #[test]
    fn defaults_and_assignment() {
        let s = st(r##"{"#spec":"pantavisor-service-system@1",
            "b/run.json":{"name":"b"},"a/run.json":{"name":"a"},
            "c/run.json":{"name":"c","group":"app","auto_recovery":{"policy":"always","max_retries":2}}}"##);
        let m = parse(&s, Duration::from_secs(120)).unwrap();
        let by = |n: &str| m.platforms.iter().find(|p| p.name == n).unwrap();
        assert_eq!(m.groups[by("a").group].name, "root");
        assert_eq!(m.groups[by("b").group].name, "platform");
        assert_eq!(by("a").restart_policy, RestartPolicy::System);
        let c = by("c");
        assert_eq!(c.restart_policy, RestartPolicy::Container);
        assert_eq!(
            c.auto_recovery.as_ref().unwrap().policy,
            RecoveryPolicy::Always
        );
        assert_eq!(c.auto_recovery.as_ref().unwrap().max_retries, 2);
    }

    #[test]
    fn app_group_recovery_is_inherited_whole() {
        let s = st(r##"{"#spec":"pantavisor-service-system@1","x/run.json":{"group":"app"}}"##);
        let m = parse(&s, Duration::from_secs(120)).unwrap();
        let ar = m.platforms[0].auto_recovery.as_ref().unwrap();
        assert_eq!(ar.policy, RecoveryPolicy::OnFailure);
        assert_eq!(ar.max_retries, 5);
        assert_eq!(ar.delay_for(1), Duration::from_secs(5));
        assert_eq!(ar.delay_for(3), Duration::from_secs(20));
    }

    #[test]
    fn explicit_groups_and_errors() {
        let s = st(r##"{"#spec":"pantavisor-service-system@1",
            "device.json":{"groups":[{"name":"one","status_goal":"READY"},{"name":"two"}]},
            "x/run.json":{},"y/run.json":{"group":"one"}}"##);
        let m = parse(&s, Duration::from_secs(120)).unwrap();
        assert_eq!(m.groups[m.platforms[0].group].name, "two");
        assert_eq!(m.platforms[1].goal, Goal::Ready);
        assert_eq!(m.groups[0].timeout, Duration::from_secs(120));
        let bad = st(r##"{"#spec":"pantavisor-service-system@1","x/run.json":{"group":"nope"}}"##);
        assert!(matches!(
            parse(&bad, Duration::ZERO).unwrap_err(),
            ModelError::UnknownGroup(c, g) if c == "x" && g == "nope"
        ));
        let bad = st(r##"{"#spec":"pantavisor-service-system@1","x/run.json":{"volumes":"x"}}"##);
        assert!(matches!(
            parse(&bad, Duration::ZERO).unwrap_err(),
            ModelError::BadJson { key, .. } if key == "x/run.json"
        ));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10min"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("x"), None);
    }

    #[test]
    fn drivers_and_disks_of_a_revision() {
        let s = st(r##"{"#spec":"pantavisor-service-system@1",
            "bsp/drivers.json":{"#spec":"driver-aliases@1","all":{"net":["dummy"]}},
            "device.json":{"disks":[{"name":"d","type":"directory","path":"/storage/d"}]},
            "x/run.json":{"drivers":{"required":["net"],"manual":["wifi"]},
                          "storage":{"v":{"persistence":"permanent","disk":"d"}}}}"##);
        let m = parse(&s, Duration::ZERO).unwrap();
        use crate::drivers::DriverUse;
        assert_eq!(
            m.platforms[0].drivers,
            [
                ("net".to_string(), DriverUse::Required),
                ("wifi".to_string(), DriverUse::Manual)
            ]
        );
        assert!(m.drivers_json.is_some());
        assert_eq!(m.platforms[0].storage[0].disk.as_deref(), Some("d"));
        // a volume on a disk the revision does not define is refused
        let bad = st(r##"{"#spec":"pantavisor-service-system@1",
            "x/run.json":{"storage":{"v":{"persistence":"permanent","disk":"nope"}}}}"##);
        assert_eq!(
            parse(&bad, Duration::ZERO).unwrap_err().to_string(),
            "container x: invalid disk \"nope\""
        );
        // and so is a disk definition that is not valid
        let bad = st(r##"{"#spec":"pantavisor-service-system@1",
            "device.json":{"disks":[{"name":"d","type":"directory","path":"/etc"}]}}"##);
        assert!(matches!(
            parse(&bad, Duration::ZERO).unwrap_err(),
            ModelError::BadDisks(_)
        ));
    }
}
