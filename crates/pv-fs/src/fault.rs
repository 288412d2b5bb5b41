//! Named crash points for testing power-cut safety.
//!
//! In builds with debug assertions (tests), `PV_FAULT=<point>[@N]` kills
//! the process with SIGKILL — no cleanup, no destructors, like a power cut —
//! the N-th time (default the first) that `<point>` is reached. A point
//! may end with `*` to match a prefix. Release builds compile every point
//! to nothing. `PV_FAULT_LOG=<file>` appends every point reached (to list
//! the points a scenario passes through).

#[cfg(debug_assertions)]
mod imp {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    struct Spec {
        pattern: String,
        nth: u64,
        log: Option<String>,
    }

    static SPEC: OnceLock<Option<Spec>> = OnceLock::new();
    static HITS: AtomicU64 = AtomicU64::new(0);

    fn spec() -> &'static Option<Spec> {
        SPEC.get_or_init(|| {
            let log = std::env::var("PV_FAULT_LOG").ok().filter(|s| !s.is_empty());
            let raw = std::env::var("PV_FAULT").ok().filter(|s| !s.is_empty());
            if raw.is_none() && log.is_none() {
                return None;
            }
            let raw = raw.unwrap_or_default();
            let (pattern, nth) = match raw.rsplit_once('@') {
                Some((p, n)) => (p.to_string(), n.parse().unwrap_or(1)),
                None => (raw, 1),
            };
            Some(Spec { pattern, nth, log })
        })
    }

    pub fn point(name: &str) {
        let Some(s) = spec() else { return };
        if let Some(log) = &s.log {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
            {
                let _ = writeln!(f, "{name}");
            }
        }
        if s.pattern.is_empty() {
            return;
        }
        let hit = match s.pattern.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == s.pattern,
        };
        if hit && HITS.fetch_add(1, Ordering::SeqCst) + 1 == s.nth {
            let _ = rustix::process::kill_process(
                rustix::process::getpid(),
                rustix::process::Signal::KILL,
            );
        }
    }
}

/// A named point where a test may crash the process (see the module docs).
#[inline]
pub fn point(name: &str) {
    #[cfg(debug_assertions)]
    imp::point(name);
    #[cfg(not(debug_assertions))]
    let _ = name;
}

/// The label of a durable write to `path`, as fault points name it: the
/// file name, with object ids (64 hex digits) shown as `object`.
pub fn label(path: &std::path::Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
        "object".into()
    } else {
        name
    }
}
