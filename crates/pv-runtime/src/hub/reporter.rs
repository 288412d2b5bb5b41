//! Progress reports to the hub (spec hub.md §4.7): one PUT in flight at a
//! time; a newer report replaces one still waiting.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use pv_hub_proto::HubAgent;
use serde_json::Value;
use tracing::warn;

#[derive(Default)]
struct Slot {
    queued: Option<(String, String, Value)>,
    stop: bool,
    busy: bool,
}

/// The sender of progress reports.
pub struct Reporter {
    slot: Arc<(Mutex<Slot>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Reporter {
    pub fn start(hub: HubAgent) -> Reporter {
        let slot: Arc<(Mutex<Slot>, Condvar)> = Arc::default();
        let s = slot.clone();
        let thread = std::thread::Builder::new()
            .name("hub-progress".into())
            .spawn(move || loop {
                let (id, rev, body) = {
                    let (m, cv) = &*s;
                    let mut g = m.lock().expect("slot");
                    g.busy = false;
                    cv.notify_all();
                    while g.queued.is_none() && !g.stop {
                        g = cv.wait(g).expect("slot");
                    }
                    if g.stop && g.queued.is_none() {
                        return;
                    }
                    g.busy = true;
                    g.queued.take().expect("queued")
                };
                // a refused report is not retried: a newer one follows
                if let Err(e) = hub.put_progress(&id, &rev, &body) {
                    warn!("progress of revision {rev} not sent: {e}");
                    if matches!(e, pv_hub_proto::Error::Unauthorized(_)) {
                        hub.drop_token();
                    }
                }
            })
            .expect("spawn hub-progress");
        Reporter {
            slot,
            thread: Some(thread),
        }
    }

    /// Queue a report, replacing any report not yet sent.
    pub fn send(&self, id: &str, rev: &str, body: Value) {
        let (m, cv) = &*self.slot;
        m.lock().expect("slot").queued = Some((id.into(), rev.into(), body));
        cv.notify_all();
    }

    /// Wait until nothing is queued or in flight.
    pub fn flush(&self) {
        let (m, cv) = &*self.slot;
        let mut g = m.lock().expect("slot");
        while g.queued.is_some() || g.busy {
            g = cv.wait(g).expect("slot");
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        {
            let (m, cv) = &*self.slot;
            m.lock().expect("slot").stop = true;
            cv.notify_all();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
