//! The runtime's hub client (spec hub.md §4, seed 6.7.1): a thread that
//! talks to the hub ([`worker`]) and the main loop's side ([`apply`]),
//! which only exchanges messages with it and never waits on the network.
//!
//! A remote update is downloaded by the thread, then handed to the main
//! loop, which stores it as a step and runs it through the same checks,
//! install and transitions as a local one (`local_run`); the thread
//! mirrors the step's local progress to the hub.
//!
//! The requests themselves are made by the `pv-hub-agent` process
//! ([`HubAgent`], found like `pv-xconnect`: beside the runtime's
//! executable or at `PV_HUB_AGENT_PATH`), so that no HTTP or TLS code runs
//! in the runtime (PID 1 in embedded mode).

mod apply;
pub mod download;
pub mod logpush;
mod reporter;
pub mod worker;

pub use apply::{HUB_NOT_REACHABLE, HUB_NOT_STABLE};

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pv_config::{Config, Key};
use pv_hub_proto::{Endpoint, HubAgent};
use serde_json::{Map, Value};
use tracing::{info, warn};

use crate::layout::Layout;

/// What the thread asks of the main loop.
#[derive(Debug)]
pub enum Event {
    /// The client's state, for device-meta `pantahub.state`.
    State(&'static str),
    Online(bool),
    Claimed,
    /// The user metadata on the hub (the whole map).
    UserMeta(BTreeMap<String, String>),
    /// A remote revision whose objects are all in the pool.
    Install {
        rev: String,
        json: Vec<u8>,
    },
}

/// What the main loop tells the thread.
#[derive(Debug)]
pub struct Shared {
    /// Remote mode: the thread talks to the hub only then.
    pub remote: bool,
    /// The running revision.
    pub rev: String,
    /// The revision under test, if any.
    pub updating: Option<String>,
    /// The device metadata to upload.
    pub devmeta: Map<String, Value>,
    /// The last answer from the hub.
    pub last_contact: Instant,
    /// `PV_LOG_PUSH`: push the logs to the hub.
    pub log_push: bool,
    /// Set by the thread while it is logged in as a claimed device.
    pub ready: bool,
    /// Progress the main loop wrote since the thread last looked, in order.
    pub progress: Vec<(String, crate::progress::Progress)>,
}

/// Progress changes kept for the thread at most (older ones are dropped).
const PROGRESS_QUEUE: usize = 64;

/// The main loop's handle on the hub client.
pub struct HubLink {
    rx: Receiver<Event>,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    last_refresh: Option<Instant>,
    /// The client the threads share: its count of failed requests.
    hub: HubAgent,
    /// The count of failed requests when the remote update under test
    /// entered TESTING (`None` outside of one).
    failures_at_testing: Option<u64>,
}

/// The hub's address from the configuration.
pub fn endpoint(cfg: &Config) -> Endpoint {
    let proxy = cfg
        .get_opt_str(Key::PhCredsProxyHost)
        .filter(|h| !h.is_empty())
        .map(|h| format!("http://{h}:{}", cfg.get_int(Key::PhCredsProxyPort)));
    Endpoint {
        host: cfg.get_str(Key::PhCredsHost).to_string(),
        port: cfg.get_int(Key::PhCredsPort).clamp(1, 65535) as u16,
        ca_file: cfg
            .get_opt_str(Key::PhCredsCafile)
            .filter(|f| !f.is_empty())
            .map(Into::into),
        proxy,
        user_agent: format!("Pantavisor/2 (rust {})", env!("CARGO_PKG_VERSION")),
        timeout: cfg
            .get_duration(Key::PhLibeventHttpTimeout)
            .max(Duration::from_secs(5)),
    }
}

impl HubLink {
    /// Start the client thread (when remote control is enabled), its
    /// requests made by the agent program found from the runtime's
    /// executable `exe`.
    pub fn start(cfg: &Config, layout: &Layout, rev: &str, exe: &Path) -> Option<HubLink> {
        if !cfg.get_bool(Key::PvControlRemote) {
            info!("remote control disabled: no hub client");
            return None;
        }
        // a device never pointed at a hub (the default host, no credentials,
        // no join token) stays quiet (docs/compat.md)
        let configured = cfg.get_str(Key::PhCredsHost)
            != pv_config::Config::new().get_str(Key::PhCredsHost)
            || cfg.get_opt_str(Key::PhCredsPrn).is_some()
            || cfg.get_opt_str(Key::PhFactoryAutotok).is_some();
        if !configured {
            info!("no hub configured (PH_CREDS_HOST): no hub client");
            return None;
        }
        let hub = HubAgent::new(
            crate::daemons::hub_agent_program(exe),
            endpoint(cfg),
            layout.storage.clone(),
        );
        match hub.connect() {
            Ok(()) => {}
            // the endpoint itself is wrong (no CA, a bad proxy)
            Err(e) if !e.is_communication_failure() => {
                warn!("hub client not started: {e}");
                return None;
            }
            Err(e) => warn!("{e} (started again at the next request)"),
        }
        info!("hub client for {}", hub.base_url());
        let (tx, rx) = channel();
        let shared = Arc::new(Mutex::new(Shared {
            remote: false,
            rev: rev.to_string(),
            updating: None,
            devmeta: Map::new(),
            last_contact: Instant::now(),
            log_push: cfg.get_bool(Key::PvLogPush),
            ready: false,
            progress: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let link_hub = hub.clone();
        let (h, l, s, st) = (hub.clone(), layout.clone(), shared.clone(), stop.clone());
        std::thread::Builder::new()
            .name("hub-logs".into())
            .spawn(move || logpush::run(h, l, s, st))
            .map_err(|e| warn!("hub log thread: {e}"))
            .ok()?;
        let w = worker::Worker::new(
            hub,
            cfg.clone(),
            layout.clone(),
            tx,
            shared.clone(),
            stop.clone(),
        );
        std::thread::Builder::new()
            .name("hub".into())
            .spawn(move || w.run())
            .map_err(|e| warn!("hub thread: {e}"))
            .ok()?;
        Some(HubLink {
            rx,
            shared,
            stop,
            last_refresh: None,
            hub: link_hub,
            failures_at_testing: None,
        })
    }

    /// A link with no thread behind it, over `hub`: the engine's tests
    /// make its requests themselves.
    #[cfg(test)]
    pub(crate) fn detached(hub: HubAgent) -> HubLink {
        let (_, rx) = channel();
        HubLink {
            rx,
            shared: Arc::new(Mutex::new(Shared {
                remote: true,
                rev: String::new(),
                updating: None,
                devmeta: Map::new(),
                last_contact: Instant::now(),
                log_push: false,
                ready: true,
                progress: Vec::new(),
            })),
            stop: Arc::new(AtomicBool::new(true)),
            last_refresh: None,
            hub,
            failures_at_testing: None,
        }
    }

    fn events(&self) -> Vec<Event> {
        self.rx.try_iter().collect()
    }

    fn since_contact(&self) -> Duration {
        self.shared.lock().expect("shared").last_contact.elapsed()
    }
}

impl Drop for HubLink {
    fn drop(&mut self) {
        // not joined: a download in flight ends with the process
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The marker of a revision that came from the hub.
pub(crate) fn remote_marker(layout: &Layout, rev: &str) -> std::path::PathBuf {
    download::dir(layout).join(format!("rev-{rev}.remote"))
}
