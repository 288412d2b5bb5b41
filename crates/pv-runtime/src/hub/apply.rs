//! The main loop's side of the hub client: events applied to the device
//! (metadata, remote revisions run as updates of the same engine), the
//! device's facts handed to the thread, and the rollback of a remote
//! update when the hub cannot be reached (`updater.network_timeout`) or a
//! request to it fails while the update is tested.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use pv_config::Key;
use pv_ctrl::CtrlReply;
use pv_metadata::keys;
use serde_json::{Map, Value};
use tracing::{error, info, warn};

use super::{remote_marker, Event};
use crate::device::Device;
use crate::metadata::{user_meta_removed, user_meta_saved};
use crate::progress::Progress;
use crate::update::{msg, Phase};

/// Progress message of a remote update rolled back for lack of the hub.
pub const HUB_NOT_REACHABLE: &str = "Hub not reachable";
/// Progress message of a remote update rolled back because a request to
/// the hub failed during TESTING.
pub const HUB_NOT_STABLE: &str = "Hub communication not stable";

impl Device {
    /// Remote mode: remote control enabled, and not running a local
    /// revision unless told to go remote (seed: local and remote modes).
    pub(crate) fn remote_mode(&self) -> bool {
        self.cfg.get_bool(Key::PvControlRemote)
            && (!self.rev.starts_with("locals/")
                || self.go_remote
                || self.cfg.get_bool(Key::PvControlRemoteAlways))
    }

    /// One turn of the hub's side of the main loop; never blocks.
    pub(crate) fn serve_hub(&mut self) {
        let Some(link) = self.hub.as_mut() else {
            return;
        };
        let events = link.events();
        let refresh = link
            .last_refresh
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
        if refresh {
            link.last_refresh = Some(Instant::now());
        }
        let since = link.since_contact();
        for ev in events {
            self.hub_event(ev);
        }
        if refresh {
            let devmeta = self
                .meta
                .device
                .as_ref()
                .and_then(|d| serde_json::from_str::<Map<String, Value>>(&d.render()).ok())
                .unwrap_or_default();
            let remote = self.remote_mode();
            if let Some(link) = &self.hub {
                let mut s = link.shared.lock().expect("shared");
                s.remote = remote;
                s.rev = self.rev.clone();
                s.updating = self.update.as_ref().map(|u| u.rev.clone());
                s.devmeta = devmeta;
                s.log_push = self.cfg.get_bool(Key::PvLogPush);
            }
        }
        let timeout = self.cfg.get_duration(Key::PhUpdaterNetworkTimeout);
        let remote = self
            .update
            .as_ref()
            .filter(|u| remote_marker(&self.layout, &u.rev).exists());
        let remote_update = remote.is_some();
        let testing = remote.is_some_and(|u| matches!(u.phase, Phase::Testing { .. }));
        if let Some(link) = self.hub.as_mut() {
            // a remote update under test: any request that fails from
            // now on (the hub was reached, then lost) rolls it back
            let failures = link.hub.failures();
            if !testing {
                link.failures_at_testing = None;
            } else if failures > *link.failures_at_testing.get_or_insert(failures) {
                error!("a request to the hub failed while the remote update was tested");
                link.failures_at_testing = None;
                self.fail_update(HUB_NOT_STABLE);
                return;
            }
        }
        if remote_update && !timeout.is_zero() && since > timeout {
            error!(
                "no answer from the hub for {}s during a remote update",
                since.as_secs()
            );
            self.fail_update(HUB_NOT_REACHABLE);
        }
    }

    /// The main loop wrote a revision's progress: the thread sends every
    /// status of a remote update to the hub, in order.
    pub(crate) fn hub_progress(&self, rev: &str, p: &Progress) {
        let Some(link) = &self.hub else { return };
        let mut s = link.shared.lock().expect("shared");
        if s.progress.len() >= super::PROGRESS_QUEUE {
            s.progress.remove(0);
        }
        s.progress.push((rev.to_string(), p.clone()));
    }

    fn hub_event(&mut self, ev: Event) {
        match ev {
            Event::State(s) => self.meta.set_device(keys::PH_STATE, s),
            Event::Online(on) => self
                .meta
                .set_device(keys::PH_ONLINE, if on { "1" } else { "0" }),
            Event::Claimed => self.meta.set_device(keys::PH_CLAIMED, "1"),
            Event::UserMeta(m) => self.apply_user_meta(&m),
            Event::Install { rev, json } => self.install_remote(&rev, &json),
        }
    }

    /// The hub's user metadata replaces the device's: changed keys are
    /// saved (configuration keys take effect), missing ones removed.
    fn apply_user_meta(&mut self, m: &BTreeMap<String, String>) {
        let Some(user) = self.meta.user.as_mut() else {
            return;
        };
        let old: Vec<String> = user.iter().map(|(k, _)| k.to_string()).collect();
        for (k, v) in m {
            if user.get(k) == Some(v.as_str()) {
                continue;
            }
            match user.set(k, v) {
                Ok(_) => user_meta_saved(&mut self.cfg, k, v),
                Err(e) => warn!("user metadata {k}: {e}"),
            }
        }
        for k in old.iter().filter(|k| !m.contains_key(*k)) {
            if let Ok(true) = user.remove(k) {
                user_meta_removed(&mut self.cfg, Some(user), k);
            }
        }
        if let Some(e) = self.engine.take() {
            self.meta.container_views(&e.platforms);
            self.engine = Some(e);
        }
    }

    /// A downloaded remote revision: stored as a step, then run exactly
    /// as LOCAL_RUN runs a local one (checks, install, transition).
    fn install_remote(&mut self, rev: &str, json: &[u8]) {
        info!("remote revision {rev}: installing");
        if self.update.is_some() {
            warn!("remote revision {rev} arrived during an update: ignored");
            return;
        }
        let marker = remote_marker(&self.layout, rev);
        if let Err(e) = pv_fs::write_atomic(&marker, b"") {
            warn!("{e}");
        }
        match self.put_step(rev, json) {
            CtrlReply::Ok => {}
            other => {
                warn!("remote revision {rev} refused: {other:?}");
                self.set_progress(rev, Progress::new("WONTGO", msg::BAD_FORMAT));
                return;
            }
        }
        if let Err(e) = self.local_run(rev, false) {
            warn!("remote revision {rev}: {e}");
        }
    }
}
