//! The xconnect mesh as the runtime sees it (spec §12): the graph of the
//! running revision (built with its model at every revision start) with
//! the pids of the running containers, served at `GET /xconnect-graph`,
//! and the check of every tick that each `required` service has a
//! provider (an `optional` one never fails anything).

use std::hash::{Hash, Hasher};
use std::time::Instant;

use pv_config::Key;
use pv_xconnect::Link;

use crate::device::Device;

impl Device {
    /// The links of the running revision; a container that is not running
    /// has pid 0. Links to the hosted bus once its files are made.
    pub(crate) fn xconnect_links(&self) -> Vec<Link> {
        let Some(e) = &self.engine else {
            return vec![];
        };
        e.model.xconnect.links(
            |name| {
                e.platforms
                    .iter()
                    .find(|p| p.def.name == name)
                    .map(|p| p.pid)
                    .unwrap_or(0)
            },
            self.hosted.bus.as_ref(),
        )
    }

    /// The daemons' turn of a tick: reap and respawn, and tell
    /// `pv-xconnect` at once when the links changed (a container started,
    /// stopped or was replaced), so that it does not wait for its poll.
    pub(crate) fn xconnect_tick(&mut self, now: Instant) {
        self.hosted_bus_tick();
        let links = self.xconnect_links();
        let Some(d) = &mut self.daemons else { return };
        d.tick(now);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for l in &links {
            (
                &l.consumer,
                l.consumer_pid,
                &l.provider,
                l.provider_pid,
                &l.name,
                l.uid,
            )
                .hash(&mut h);
        }
        d.xconnect_changed(h.finish());
    }

    /// `GET /xconnect-graph`: the links as a JSON array.
    pub(crate) fn xconnect_graph_json(&self) -> String {
        serde_json::to_string(&self.xconnect_links()).unwrap_or_else(|_| "[]".into())
    }

    /// Why the running revision cannot run: a required service that no
    /// other container exports (nor the hosted bus, when on), or a
    /// conflict with the hosted bus.
    pub(crate) fn xconnect_unmet(&self) -> Option<String> {
        let e = self.engine.as_ref()?;
        let hosted = self.cfg.get_bool(Key::PvXconnectDbusSystembusEnabled);
        if hosted {
            let conflicts = e.model.xconnect.hosted_conflicts();
            if !conflicts.is_empty() {
                return Some(format!(
                    "xconnect: hosted system bus: {}",
                    conflicts.join(", ")
                ));
            }
        }
        let missing: Vec<String> = e
            .model
            .xconnect
            .missing(hosted)
            .into_iter()
            .filter(|m| m.required)
            .map(|m| format!("{} requires {}", m.consumer, m.name))
            .collect();
        (!missing.is_empty()).then(|| {
            format!(
                "xconnect: required service without provider: {}",
                missing.join(", ")
            )
        })
    }
}
