//! LOCAL_RUN / LOCAL_RUN_COMMIT (spec §4.4): the checks an installed local
//! revision must pass before it is tried (each failure is WONTGO with the
//! original's message), the space it needs, its install as a trail, the
//! boot env's try, and the transition: a reboot, or a switch of the changed
//! containers in place.

use pv_config::Key;
use pv_objects::ObjectStore;
use tracing::{error, info};

use crate::daemon::EXIT_REBOOT;
use crate::device::{check_signatures, state_read_message, CommandError, Device};
use crate::housekeeping::point_current;
use crate::progress::Progress;
use crate::transition::{self, Transition};
use crate::update::{msg, Kind, Phase, Update};
use crate::{chain, gc, model, trail};

impl Device {
    fn wontgo(&self, rev: &str, short: &str, detail: &str) -> CommandError {
        error!("revision {rev} will not go: {detail}");
        self.set_progress(rev, Progress::new("WONTGO", short));
        CommandError::Refused(format!("{short}: {detail}"))
    }

    /// LOCAL_RUN / LOCAL_RUN_COMMIT of an installed local revision.
    pub(crate) fn local_run(
        &mut self,
        rev: &str,
        force_reboot: bool,
    ) -> std::result::Result<(), CommandError> {
        if self.update.is_some() {
            return Err(CommandError::Busy);
        }
        if rev == self.rev {
            return Err(CommandError::Refused(format!(
                "revision {rev} is already running"
            )));
        }
        if !pv_types::is_revision(rev) || !self.layout.trail(rev).is_dir() {
            return Err(CommandError::NotFound(rev.into()));
        }
        let (raw, pending) = match trail::read_state(&self.layout, rev) {
            Ok(x) => x,
            Err(e) => return Err(self.wontgo(rev, state_read_message(&e), &chain(&e))),
        };
        if let Err(r) = pending.validate() {
            return Err(self.wontgo(rev, msg::BAD_FORMAT, &r.to_string()));
        }
        let pending_model =
            match model::parse(&pending, self.cfg.get_duration(Key::PvUpdaterGoalsTimeout)) {
                Ok(m) => m,
                Err(e) => return Err(self.wontgo(rev, msg::BAD_FORMAT, &chain(&e))),
            };
        if let Err((short, detail)) = check_signatures(&self.cfg, &raw) {
            return Err(self.wontgo(rev, &short, &detail));
        }
        let pool = ObjectStore::open(self.layout.objects())
            .map_err(|e| CommandError::Refused(chain(&e)))?;
        if let Some(id) = pending
            .object_ids()
            .into_iter()
            .find(|id| !pool.contains(id))
        {
            return Err(self.wontgo(rev, msg::INTERNAL, &format!("object {id} is missing")));
        }
        // what installing needs: inline JSON files and directory entries
        let need: u64 = raw.len() as u64 * 2 + (1 << 20);
        let mut free = self.sys.free_bytes(&self.layout.storage);
        if need > free {
            let keep = self
                .gc_keep()
                .into_iter()
                .chain([rev.to_string()])
                .collect();
            let _ = gc::run(&self.layout, &keep);
            free = self.sys.free_bytes(&self.layout.storage);
            if need > free {
                return Err(self.wontgo(
                    rev,
                    &format!("Space required {need} B, available {free} B"),
                    "not enough space",
                ));
            }
        }
        if let Err(e) = trail::install(&self.layout, rev, &raw, &pool) {
            return Err(self.wontgo(rev, msg::INTERNAL, &chain(&e)));
        }
        pv_fs::fault::point("update:trail-installed");
        let running = trail::read_state(&self.layout, &self.rev)
            .map(|(_, s)| s)
            .ok();
        let engine = self.engine.as_ref();
        let transition = match (force_reboot, running, engine) {
            (false, Some(r), Some(e)) => transition::decide(&r, &e.model, &pending, &pending_model),
            _ => Transition::Reboot {
                reason: "forced".into(),
            },
        };
        if let Err(e) = self.env.install(rev) {
            return Err(self.wontgo(rev, msg::INTERNAL, &chain(&e)));
        }
        pv_fs::fault::point("update:env-installed");
        match transition {
            Transition::Reboot { reason } => {
                info!("update to {rev} needs a reboot ({reason})");
                self.set_progress(rev, Progress::new("INPROGRESS", msg::REBOOTING));
                self.pending_exit = Some(EXIT_REBOOT);
            }
            Transition::NonReboot { restart } => {
                self.set_progress(rev, Progress::new("INPROGRESS", msg::TRANSITIONING));
                if let Some(l) = &self.logs {
                    l.handle().set_revision(rev);
                    l.handle().start_update(rev);
                }
                let engine = self.engine.as_mut().expect("checked above");
                engine.switch_to(rev, pending_model, &restart);
                engine.updating = true;
                self.rev = rev.to_string();
                point_current(&self.layout, rev);
                self.meta.set_device(pv_metadata::keys::REVISION, rev);
                self.meta
                    .container_views(&self.engine.as_ref().expect("engine").platforms);
                if let Some(e) = self.engine.take() {
                    self.publish_roles(&e);
                    self.engine = Some(e);
                }
                self.set_progress(rev, Progress::new("INPROGRESS", msg::TRYING));
                self.update = Some(Update {
                    rev: rev.into(),
                    kind: Kind::NonReboot,
                    phase: Phase::InProgress,
                });
            }
        }
        Ok(())
    }
}
