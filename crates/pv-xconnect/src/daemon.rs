//! The `pv-xconnect` daemon: it reads the graph from the control socket
//! (as the host: it runs in the runtime's cgroup), and makes the links in
//! place match it: a new link is injected (once both of its containers
//! pivoted into their own roots), a link whose consumer or
//! provider changed (a restart, a non-reboot update: new pids) is torn
//! down and injected again, a link no longer in the graph is torn down.
//!
//! It reconciles every [`PERIOD`] and whenever a byte arrives on stdin
//! (the runtime writes one when the graph changes); the end of stdin (the
//! runtime is gone) or SIGTERM stops it, tearing every link down.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use crate::link::Active;
use crate::paths::has_own_root;
use crate::{Error, Link};

/// The reconcile period of the original.
pub const PERIOD: Duration = Duration::from_secs(5);
/// The period while a wanted link waits for a container still setting up
/// its root (a container starts within a fraction of a second).
pub const SETTLING: Duration = Duration::from_millis(50);
/// How long a link waits at [`SETTLING`] before it waits at [`PERIOD`]
/// (a container that never gets its own root is warned about once).
pub const SETTLING_AT_MOST: Duration = Duration::from_secs(10);

/// How the daemon runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The control socket.
    pub ctrl: PathBuf,
    pub period: Duration,
}

/// The links in place, by (consumer, name, target).
#[derive(Debug, Default)]
pub struct Mesh {
    active: BTreeMap<(String, String, String), Active>,
    /// Links waiting for their containers' roots: since when, and
    /// whether that was warned about.
    waiting: BTreeMap<(String, String, String), (Link, Instant, bool)>,
}

impl Mesh {
    /// Make the links in place match `links`; true when a wanted link
    /// waits for a container that has not pivoted into its root yet (see
    /// [`has_own_root`]; for at most [`SETTLING_AT_MOST`]): then reconcile
    /// again soon.
    pub fn reconcile(&mut self, links: &[Link]) -> bool {
        let wanted: BTreeMap<_, _> = links
            .iter()
            .filter(|l| l.consumer_pid > 0 && (l.provider_pid > 0 || l.is_hosted()))
            .map(|l| (l.key(), l))
            .collect();
        self.active
            .retain(|k, a| wanted.get(k).is_some_and(|l| **l == a.link) && a.in_place());
        self.waiting
            .retain(|k, (l, ..)| wanted.get(k).is_some_and(|w| *w == l));
        let mut settling = false;
        for (k, l) in wanted {
            if self.active.contains_key(&k) {
                continue;
            }
            // the hosted bus is the host's: only its consumer must have pivoted
            if !has_own_root(l.consumer_pid) || (!l.is_hosted() && !has_own_root(l.provider_pid)) {
                let (_, since, warned) = self
                    .waiting
                    .entry(k)
                    .or_insert_with(|| (l.clone(), Instant::now(), false));
                if since.elapsed() < SETTLING_AT_MOST {
                    debug!(
                        "link {} → {} ({}): waiting for the containers' roots",
                        l.provider, l.consumer, l.name
                    );
                    settling = true;
                } else if !*warned {
                    *warned = true;
                    warn!(
                        "link {} → {} ({}): a container still has the host's root",
                        l.provider, l.consumer, l.name
                    );
                }
                continue;
            }
            self.waiting.remove(&k);
            match Active::establish(l) {
                Ok(a) => {
                    self.active.insert(k, a);
                }
                Err(e) => warn!(
                    "link {} → {} ({}): {}",
                    l.provider,
                    l.consumer,
                    l.name,
                    crate::chain(&e)
                ),
            }
        }
        settling
    }

    /// The links in place.
    pub fn links(&self) -> Vec<&Link> {
        self.active.values().map(|a| &a.link).collect()
    }

    /// Tear everything down.
    pub fn clear(&mut self) {
        self.active.clear();
    }
}

/// The graph from the control socket.
pub fn fetch(ctrl: &std::path::Path) -> Result<Vec<Link>, Error> {
    let mut c = pv_ctrl_client::Client::new(ctrl);
    c.timeout = Duration::from_secs(10);
    let (head, body) = c
        .call(
            "GET",
            "/xconnect-graph",
            pv_ctrl_client::Body::Bytes(b""),
            None,
        )
        .map_err(|e| Error::Ctrl(e.to_string()))?;
    if head.status != 200 {
        return Err(Error::Ctrl(format!(
            "GET /xconnect-graph: {} {}",
            head.status,
            String::from_utf8_lossy(&body)
        )));
    }
    serde_json::from_slice(&body).map_err(|e| Error::Ctrl(format!("graph: {e}")))
}

/// Wait up to `period` for a nudge on stdin; false when stdin ended.
fn wait(period: Duration, stop: &AtomicBool) -> bool {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let stdin = std::io::stdin();
    let piped = rustix::fs::fstat(&stdin).is_ok_and(|st| {
        rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Fifo
    });
    if !piped {
        // started by hand: no runtime pipe to watch
        std::thread::sleep(period);
        return true;
    }
    let mut fds = [PollFd::new(&stdin, PollFlags::IN)];
    let timeout = Timespec {
        tv_sec: period.as_secs() as i64,
        tv_nsec: period.subsec_nanos() as i64,
    };
    match poll(&mut fds, Some(&timeout)) {
        Ok(0) => true,
        Ok(_) => {
            let mut buf = [0u8; 256];
            matches!(rustix::io::read(&stdin, &mut buf), Ok(n) if n > 0)
                || fds[0].revents().is_empty()
        }
        Err(_) => !stop.load(Ordering::SeqCst),
    }
}

/// Run until stdin ends or SIGTERM; returns the exit code.
pub fn run(opts: &Options) -> i32 {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register(sig, stop.clone()) {
            warn!("signal handler: {e}");
        }
    }
    // stdin is the runtime's pipe; its end also comes if the runtime dies
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM));
    info!("reconciling the graph of {}", opts.ctrl.display());
    let mut mesh = Mesh::default();
    let mut last_error = String::new();
    while !stop.load(Ordering::SeqCst) {
        let mut settling = false;
        match fetch(&opts.ctrl) {
            Ok(links) => {
                last_error.clear();
                settling = mesh.reconcile(&links);
            }
            Err(e) => {
                let m = e.to_string();
                if m != last_error {
                    warn!("{m}");
                    last_error = m;
                }
            }
        }
        let period = if settling { SETTLING } else { opts.period };
        if !wait(period, &stop) {
            break;
        }
    }
    mesh.clear();
    info!("stopped");
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our own process stands in for two containers that have not pivoted
    /// yet: their `/proc/<pid>/root` is the host's, so nothing is made.
    #[test]
    fn containers_without_their_own_root_are_not_linked_yet() {
        let d = tempfile::tempdir().unwrap();
        let me = std::process::id() as i32;
        let target = d.path().join("run/pv/api.sock");
        let l = Link {
            consumer: "c".into(),
            consumer_pid: me,
            provider: "p".into(),
            provider_pid: me,
            name: "api".into(),
            kind: "unix".into(),
            role: "any".into(),
            interface: "unix".into(),
            target: target.to_str().unwrap().into(),
            socket: d.path().join("p.sock").to_str().unwrap().into(),
            owns: None,
            allow: None,
            uid: None,
        };
        let mut mesh = Mesh::default();
        assert!(mesh.reconcile(std::slice::from_ref(&l)), "settling");
        assert!(mesh.links().is_empty());
        assert!(!d.path().join("run").exists(), "nothing made on the host");
        // the wait is forgotten with the link
        assert!(!mesh.reconcile(&[]));
        assert!(mesh.waiting.is_empty());
    }
}
