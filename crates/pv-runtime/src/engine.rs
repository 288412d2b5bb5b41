//! The container engine of the running revision: group gating, status
//! goals, restarts and auto-recovery (spec §5.4-5.9), one tick at a time.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pv_container::cgroup::Hierarchy;
use tracing::{error, info, warn};

use crate::layout::Layout;
use crate::model::{BackoffPolicy, Goal, RecoveryPolicy, RevisionModel, Status};
use crate::platform::{Platform, StartCtx};
use crate::system::{LinuxSystem, System};

/// How far a container, group or revision is from its goal, in the
/// original's order of severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GoalState {
    /// Not applicable right now (recovering, stopped, or past the goal).
    None,
    Achieved,
    Unachieved,
    TimedOut,
}

/// What the runtime must do after a tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Continue,
    /// A container failed: reboot into the same revision (no update running).
    Reboot(String),
    /// A container failed while an update is being tried.
    Rollback(String),
}

/// A lifecycle request of the control API (spec §5.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Stop,
    Start,
    Restart,
}

/// Why a lifecycle request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("container {0} not found")]
    NotFound(String),
    /// `restart_policy: system` containers change only with the system (403).
    #[error("container {0} has restart policy system")]
    SystemPolicy(String),
    /// Not possible in the current status (400).
    #[error("container {0} cannot do that while {1}")]
    BadState(String, &'static str),
}

/// Grace period between SIGTERM and SIGKILL when stopping a container.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// The running revision's containers.
#[derive(Debug)]
pub struct Engine {
    pub rev: String,
    pub model: RevisionModel,
    pub platforms: Vec<Platform>,
    pub layout: Layout,
    pub exe: PathBuf,
    pub hierarchies: Vec<Hierarchy>,
    /// True while an update is INPROGRESS or TESTING: failures roll back.
    pub updating: bool,
    pub stop_grace: Duration,
    /// The log server, for container consoles.
    pub logs: Option<pv_logs::LogHandle>,
    /// The kernel: volumes, cgroups, container processes.
    pub sys: Arc<dyn System>,
    /// Managed drivers of the revision.
    pub drivers: crate::drivers::Drivers,
    /// Disks of the revision.
    pub disks: pv_disks::Disks,
}

impl Engine {
    /// The engine of revision `rev` on the real kernel.
    pub fn new(rev: &str, model: RevisionModel, layout: Layout, exe: PathBuf) -> Engine {
        Engine::with_system(rev, model, layout, exe, Arc::new(LinuxSystem))
    }

    /// The engine of revision `rev` on `sys`.
    pub fn with_system(
        rev: &str,
        model: RevisionModel,
        layout: Layout,
        exe: PathBuf,
        sys: Arc<dyn System>,
    ) -> Engine {
        let platforms = model.platforms.iter().cloned().map(Platform::new).collect();
        let drivers = crate::drivers::Drivers::new(
            model.drivers_json.as_ref(),
            pv_kmod::host_modules_dir(),
            layout.rundir.clone(),
        );
        let disks = crate::disks::open(&layout, rev, &model);
        Engine {
            rev: rev.to_string(),
            model,
            platforms,
            layout,
            exe,
            hierarchies: sys.cgroup_hierarchies(),
            sys,
            updating: false,
            stop_grace: STOP_GRACE,
            logs: None,
            drivers,
            disks,
        }
    }

    /// A container's distance from its goal.
    pub fn platform_goal(&self, p: &Platform, now: Instant) -> GoalState {
        let goal = p.def.goal.status();
        if p.status == goal {
            GoalState::Achieved
        } else if p.status < Status::Starting {
            GoalState::Unachieved
        } else if p.status > goal {
            GoalState::None
        } else if p.goal_deadline.is_some_and(|d| now >= d) {
            GoalState::TimedOut
        } else {
            GoalState::Unachieved
        }
    }

    /// A group's distance from its goal: the worst of its containers
    /// (a group without containers has achieved it).
    pub fn group_goal(&self, g: usize, now: Instant) -> GoalState {
        self.platforms
            .iter()
            .filter(|p| p.def.group == g)
            .map(|p| self.platform_goal(p, now))
            .max()
            .unwrap_or(GoalState::Achieved)
    }

    /// The revision's distance from its goal.
    pub fn revision_goal(&self, now: Instant) -> GoalState {
        (0..self.model.groups.len())
            .map(|g| self.group_goal(g, now))
            .max()
            .unwrap_or(GoalState::Achieved)
    }

    /// A group's status: READY once every member reached its goal, else the
    /// lowest status among the members that have not.
    pub fn group_status(&self, g: usize, now: Instant) -> Status {
        self.platforms
            .iter()
            .filter(|p| p.def.group == g && self.platform_goal(p, now) != GoalState::Achieved)
            .map(|p| p.status)
            .min()
            .unwrap_or(Status::Ready)
    }

    /// The revision's status: the lowest group status.
    pub fn revision_status(&self, now: Instant) -> Status {
        (0..self.model.groups.len())
            .map(|g| self.group_status(g, now))
            .min()
            .unwrap_or(Status::Ready)
    }

    /// True if containers of group `g` may start: no earlier group is
    /// still on its way to its goal (a timed-out group lets the next go).
    fn gate_open(&self, g: usize, now: Instant) -> bool {
        (0..g).all(|h| self.group_goal(h, now) != GoalState::Unachieved)
    }

    fn fail(&self, msg: String) -> Verdict {
        error!("{msg}");
        if self.updating {
            Verdict::Rollback(msg)
        } else {
            Verdict::Reboot(msg)
        }
    }

    /// Advance every container once.
    pub fn tick(&mut self) -> Verdict {
        let now = Instant::now();
        for i in 0..self.platforms.len() {
            let v = self.tick_one(i, now);
            if v != Verdict::Continue {
                return v;
            }
        }
        for p in &mut self.platforms {
            // a container that left its goal (exited, waiting to be
            // recovered) is stable again only a whole stable_timeout after
            // it is back
            if !(p.def.goal.status()..=Status::Ready).contains(&p.status) {
                p.goal_reached_at = None;
            }
            if p.goal_reached_at.is_none() && p.status == p.def.goal.status() {
                p.goal_reached_at = Some(now);
                info!(
                    "container {}: status goal {} reached",
                    p.def.name,
                    p.def.goal.as_str()
                );
            }
        }
        Verdict::Continue
    }

    fn tick_one(&mut self, i: usize, now: Instant) -> Verdict {
        let g = self.platforms[i].def.group;
        match self.platforms[i].status {
            Status::Recovering if self.platforms[i].recover_at.is_some_and(|t| now >= t) => {
                self.platforms[i].status = Status::Installed;
                self.platforms[i].recover_at = None;
                return self.tick_one(i, now);
            }
            Status::Installed | Status::Blocked => {
                if !self.gate_open(g, now) {
                    self.platforms[i].status = Status::Blocked;
                    return Verdict::Continue;
                }
                let timeout = self.model.groups[g].timeout;
                let (layout, rev) = (self.layout.clone(), self.rev.clone());
                if let Err(e) = self.platforms[i].mount(&*self.sys, &layout, &rev, &mut self.disks)
                {
                    self.platforms[i].status = Status::Stopped;
                    return self.fail(format!(
                        "container {}: could not mount its volumes: {e}",
                        self.platforms[i].name()
                    ));
                }
                if self.platforms[i].def.goal == Goal::Mounted {
                    self.platforms[i].status = Status::Mounted;
                    self.platforms[i].goal_deadline = Some(now + timeout);
                    return Verdict::Continue;
                }
                let uses = self.platforms[i].def.drivers.clone();
                if let Err(e) = self.drivers.load_for(self.platforms[i].name(), &uses) {
                    self.platforms[i].status = Status::Stopped;
                    self.platforms[i].unmount(&*self.sys, &layout);
                    return self.fail(format!("container {}: {e}", self.platforms[i].name()));
                }
                let logs = self.logs.clone();
                let sys = self.sys.clone();
                let ctx = StartCtx {
                    sys: &*sys,
                    layout: &layout,
                    rev: &rev,
                    group: &self.model.groups[g].name.clone(),
                    exe: &self.exe.clone(),
                    hierarchies: &self.hierarchies.clone(),
                    logs: logs.as_ref(),
                };
                let p = &mut self.platforms[i];
                p.goal_deadline = Some(now + timeout);
                if let Err(e) = p.start(&ctx) {
                    p.status = Status::Stopped;
                    p.unmount(&*sys, &layout);
                    return self.fail(format!(
                        "container {}: could not be started: {e}",
                        self.platforms[i].name()
                    ));
                }
            }
            Status::Started | Status::Ready | Status::Starting => {
                if let Some(code) = self.platforms[i].poll_exit() {
                    return self.on_exit(i, code, now);
                }
            }
            Status::Stopping => {
                let (layout, sys) = (self.layout.clone(), self.sys.clone());
                let p = &mut self.platforms[i];
                if p.has_exited() || p.stop_deadline.is_some_and(|d| now >= d) {
                    p.stop(Duration::ZERO);
                    p.unmount(&*sys, &layout);
                    p.stop_deadline = None;
                    p.status = Status::Stopped;
                    if std::mem::take(&mut p.restart_after_stop) {
                        reset_for_start(p);
                        info!("container {}: restarting", p.def.name);
                    } else {
                        p.user_stopped = true;
                        info!("container {}: stopped on request", p.def.name);
                    }
                }
            }
            _ => {}
        }
        Verdict::Continue
    }

    /// A container's init exited without being asked to.
    fn on_exit(&mut self, i: usize, code: i32, now: Instant) -> Verdict {
        let (layout, sys) = (self.layout.clone(), self.sys.clone());
        let updating = self.updating;
        let p = &mut self.platforms[i];
        let name = p.def.name.clone();
        warn!("container {name}: exited with code {code}");
        p.status = Status::Stopped;
        p.unmount(&*sys, &layout);
        if p.user_stopped {
            return Verdict::Continue;
        }
        let Some(ar) = p.def.auto_recovery.clone() else {
            return self.fail(format!("container {name} exited with code {code}"));
        };
        match ar.policy {
            RecoveryPolicy::No => {
                return self.fail(format!("container {name} exited with code {code}"))
            }
            RecoveryPolicy::OnFailure if code == 0 => {
                info!("container {name}: exited cleanly, on-failure policy leaves it stopped");
                return Verdict::Continue;
            }
            _ => {}
        }
        if !ar.reset_window.is_zero()
            && p.last_start
                .is_some_and(|t| now.duration_since(t) > ar.reset_window)
        {
            p.retries = 0;
        }
        if ar.max_retries > 0 && p.retries >= ar.max_retries {
            if updating {
                return self.fail(format!(
                    "container {name}: max_retries ({}) exhausted while testing an update",
                    ar.max_retries
                ));
            }
            return match ar.backoff_policy {
                BackoffPolicy::Reboot => self.fail(format!(
                    "container {name}: max_retries ({}) exhausted",
                    ar.max_retries
                )),
                BackoffPolicy::Never => {
                    warn!("container {name}: max_retries exhausted, left stopped (backoff_policy never)");
                    p.recovery_failed = true;
                    Verdict::Continue
                }
                BackoffPolicy::Wait(d) => {
                    warn!(
                        "container {name}: max_retries exhausted, new cycle in {}s",
                        d.as_secs()
                    );
                    p.retries = 0;
                    p.status = Status::Recovering;
                    p.recover_at = Some(now + d);
                    Verdict::Continue
                }
            };
        }
        p.retries += 1;
        let delay = ar.delay_for(p.retries);
        info!(
            "container {name}: restart {} in {}s",
            p.retries,
            delay.as_secs()
        );
        if delay.is_zero() {
            p.status = Status::Installed;
        } else {
            p.status = Status::Recovering;
            p.recover_at = Some(now + delay);
        }
        Verdict::Continue
    }

    /// Stop every container (last group first) and unmount its volumes.
    pub fn stop_all(&mut self) {
        let (layout, sys) = (self.layout.clone(), self.sys.clone());
        // all at once: SIGTERM to every init, one shared grace period
        for p in self.platforms.iter().rev() {
            p.request_stop();
        }
        let deadline = Instant::now() + self.stop_grace;
        while Instant::now() < deadline
            && self
                .platforms
                .iter_mut()
                .any(|p| p.is_running() && !p.has_exited())
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        for p in self.platforms.iter_mut().rev() {
            if p.is_running() {
                p.stop(Duration::ZERO);
            }
            if p.mounted {
                p.unmount(&*sys, &layout);
            }
            p.status = Status::Stopped;
        }
        self.disks.stop_all();
        self.drivers.unload_all();
        let _ = std::fs::remove_dir_all(layout.configs());
    }

    /// A non-reboot switch to revision `rev` (spec §4.6): the containers in
    /// `restart` and those the new revision drops are stopped and unmounted;
    /// the others keep running (same PIDs); changed and new ones start on
    /// the next ticks in group order.
    pub fn switch_to(
        &mut self,
        rev: &str,
        model: RevisionModel,
        restart: &std::collections::BTreeSet<String>,
    ) {
        let (layout, sys) = (self.layout.clone(), self.sys.clone());
        let keep: std::collections::BTreeSet<&str> =
            model.platforms.iter().map(|p| p.name.as_str()).collect();
        let going: Vec<usize> = (0..self.platforms.len())
            .filter(|&i| {
                restart.contains(self.platforms[i].name())
                    || !keep.contains(self.platforms[i].name())
            })
            .collect();
        for &i in &going {
            self.platforms[i].request_stop();
        }
        let deadline = Instant::now() + self.stop_grace;
        while Instant::now() < deadline
            && going
                .iter()
                .any(|&i| self.platforms[i].is_running() && !self.platforms[i].has_exited())
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut old: std::collections::HashMap<String, Platform> = self
            .platforms
            .drain(..)
            .map(|p| (p.def.name.clone(), p))
            .collect();
        let mut next = vec![];
        for def in &model.platforms {
            match old.remove(&def.name) {
                Some(mut p) if !restart.contains(&def.name) => {
                    p.def = def.clone();
                    next.push(p);
                }
                Some(mut p) => {
                    p.stop(Duration::ZERO);
                    p.unmount(&*sys, &layout);
                    next.push(Platform::new(def.clone()));
                }
                None => next.push(Platform::new(def.clone())),
            }
        }
        for (_, mut p) in old {
            p.stop(Duration::ZERO);
            if p.mounted {
                p.unmount(&*sys, &layout);
            }
            info!("container {}: removed by the new revision", p.def.name);
        }
        self.platforms = next;
        self.model = model;
        self.rev = rev.to_string();
    }

    /// Stop, start or restart a `container`-policy container (spec §5.10).
    /// Stops are lenient: SIGTERM now, SIGKILL after the grace period, volumes
    /// unmounted once STOPPED; a user-stopped container is never recovered.
    pub fn container_action(&mut self, name: &str, action: Action) -> Result<(), ActionError> {
        let grace = self.stop_grace;
        let p = self
            .platforms
            .iter_mut()
            .find(|p| p.def.name == name)
            .ok_or_else(|| ActionError::NotFound(name.into()))?;
        if p.def.restart_policy == crate::model::RestartPolicy::System {
            return Err(ActionError::SystemPolicy(name.into()));
        }
        let running = matches!(p.status, Status::Starting | Status::Started | Status::Ready);
        let begin_stop = |p: &mut Platform| {
            p.request_stop();
            p.status = Status::Stopping;
            p.stop_deadline = Some(Instant::now() + grace);
        };
        match (action, p.status) {
            (Action::Stop, _) if running => begin_stop(p),
            (Action::Stop, Status::Stopped | Status::Recovering) => {
                p.user_stopped = true;
                p.status = Status::Stopped;
                p.recover_at = None;
            }
            (Action::Stop, Status::Stopping) => p.restart_after_stop = false,
            (Action::Start, Status::Stopped | Status::Recovering)
            | (Action::Restart, Status::Stopped | Status::Recovering) => reset_for_start(p),
            (Action::Start, Status::Stopping) => p.restart_after_stop = true,
            (Action::Start, _) if running => {}
            (Action::Restart, _) if running => {
                begin_stop(p);
                p.restart_after_stop = true;
            }
            (_, s) => return Err(ActionError::BadState(name.into(), s.as_str())),
        }
        Ok(())
    }

    /// Mark a container READY (the `ready` signal); only if its goal is READY.
    pub fn signal_ready(&mut self, name: &str) -> bool {
        match self.platforms.iter_mut().find(|p| p.def.name == name) {
            Some(p) if p.def.goal == Goal::Ready && p.status == Status::Started => {
                p.status = Status::Ready;
                true
            }
            _ => false,
        }
    }
}

/// Clear the stop and recovery state so the next tick starts the container.
fn reset_for_start(p: &mut Platform) {
    p.user_stopped = false;
    p.recovery_failed = false;
    p.retries = 0;
    p.recover_at = None;
    p.status = Status::Installed;
}
