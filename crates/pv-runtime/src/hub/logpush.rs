//! Log push (spec hub.md §4.8, `PV_LOG_PUSH`): a thread that tails the
//! running revision's filetree logs (`<logs>/<rev>/<platform>/<source>`)
//! and posts their new lines to the hub's `/logs/` in batches of at most
//! 200 entries and 256 KiB. A batch the hub refuses for a passing reason
//! (408, 429, 401, 403, 5xx, no answer) is sent again later, with a
//! growing pause; one refused for any other 4xx is dropped. How far each
//! file was sent is kept in `<storage>/cache/hub-logs.json`, durably, so a
//! restarted runtime goes on where it stopped.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pv_hub_proto::{HubAgent, LogOutcome};
use serde_json::{json, Value};
use tracing::warn;

use super::Shared;
use crate::layout::Layout;

/// Entries in one batch at most.
pub const MAX_ENTRIES: usize = 200;
/// Bytes of one batch's JSON at most.
pub const MAX_BYTES: usize = 256 << 10;
/// Longest line sent; a longer one is cut.
const MAX_LINE: usize = 4096;

/// How far each log file was sent (relative path under the logs dir →
/// byte offset).
type Offsets = BTreeMap<String, u64>;

fn offsets_path(layout: &Layout) -> PathBuf {
    layout.cache().join("hub-logs.json")
}

fn load(layout: &Layout) -> Offsets {
    std::fs::read(offsets_path(layout))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// The log files of `rev`, relative to the logs dir: every file of the
/// filetree except rotated (`.gz`) ones and the singlefile output.
fn files(logs: &Path, rev: &str) -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => walk(&e.path(), out),
                Ok(t) if t.is_file() => out.push(e.path()),
                _ => {}
            }
        }
    }
    let mut out = vec![];
    walk(&logs.join(rev), &mut out);
    let mut rel: Vec<String> = out
        .iter()
        .filter_map(|p| p.strip_prefix(logs).ok())
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| !p.ends_with(".gz") && !p.ends_with(pv_logs::SINGLEFILE_LOG))
        .filter(|p| !pv_fs::is_temp_name(p.rsplit('/').next().unwrap_or(p)))
        .collect();
    rel.sort();
    rel
}

/// One batch: its entries and, per file, the offset it reaches.
#[derive(Debug, Default)]
pub struct Batch {
    pub entries: Vec<Value>,
    pub reach: Offsets,
    bytes: usize,
}

impl Batch {
    fn full(&self) -> bool {
        self.entries.len() >= MAX_ENTRIES || self.bytes >= MAX_BYTES - MAX_LINE * 2
    }
}

/// The next batch of complete new lines of `rev`'s logs after `sent`.
pub fn next_batch(logs: &Path, rev: &str, sent: &Offsets) -> Batch {
    let mut batch = Batch::default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    for rel in files(logs, rev) {
        if batch.full() {
            break;
        }
        let path = logs.join(&rel);
        let Ok(mut f) = std::fs::File::open(&path) else {
            continue;
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let mut at = sent.get(&rel).copied().unwrap_or(0);
        if at > len {
            // the file was replaced by a shorter one: read it from the start
            at = 0;
        }
        if at == len || f.seek(SeekFrom::Start(at)).is_err() {
            continue;
        }
        let mut buf = vec![];
        let want = (MAX_BYTES - batch.bytes) as u64;
        if f.take(want).read_to_end(&mut buf).is_err() {
            continue;
        }
        // relative to the revision: `<platform>/<source…>`
        let inner = rel[rev.len()..].trim_start_matches('/');
        let (plat, src) = inner.split_once('/').unwrap_or(("pantavisor", inner));
        let mut used = 0usize;
        while let Some(nl) = buf[used..].iter().position(|b| *b == b'\n') {
            if batch.full() {
                break;
            }
            let line = &buf[used..used + nl];
            used += nl + 1;
            let text = String::from_utf8_lossy(&line[..line.len().min(MAX_LINE)]);
            let text = text.trim_end_matches('\r');
            if text.is_empty() {
                continue;
            }
            let e = json!({
                "tsec": now.as_secs(), "tnano": now.subsec_nanos(), "lvl": "INFO",
                "src": src, "plat": plat, "rev": rev, "msg": text,
            });
            batch.bytes += e.to_string().len() + 1;
            batch.entries.push(e);
        }
        if used > 0 {
            batch.reach.insert(rel, at + used as u64);
        }
    }
    batch
}

/// The pusher thread's loop: it sends only while the client is logged in
/// as a claimed device (`Shared::ready`) and pushing is on.
pub fn run(hub: HubAgent, layout: Layout, shared: Arc<Mutex<Shared>>, stop: Arc<AtomicBool>) {
    let logs = layout.logs();
    let mut sent = load(&layout);
    let mut pause = Duration::from_secs(1);
    while !stop.load(Ordering::Relaxed) {
        let (push, rev) = {
            let s = shared.lock().expect("shared");
            (s.remote && s.log_push && s.ready, s.rev.clone())
        };
        let mut wait = Duration::from_secs(1);
        if push && !rev.is_empty() {
            let batch = next_batch(&logs, &rev, &sent);
            if !batch.entries.is_empty() {
                match hub.post_logs(&batch.entries) {
                    LogOutcome::Sent | LogOutcome::Dropped => {
                        sent.extend(batch.reach);
                        let text = serde_json::to_vec(&sent).expect("json");
                        if let Err(e) = pv_fs::write_atomic(offsets_path(&layout), &text) {
                            warn!("log push: {e}");
                        }
                        pause = Duration::from_secs(1);
                        // more may be waiting: go on at once
                        wait = Duration::from_millis(50);
                    }
                    LogOutcome::RetryLater => {
                        wait = pause;
                        pause = (pause * 2).min(Duration::from_secs(60));
                    }
                }
            }
        }
        let end = std::time::Instant::now() + wait;
        while !stop.load(Ordering::Relaxed) && std::time::Instant::now() < end {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_complete_lines_within_limits_and_resume() {
        let d = tempfile::tempdir().unwrap();
        let logs = d.path();
        let dir = logs.join("3/web/lxc");
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = String::new();
        for i in 0..250 {
            text.push_str(&format!("line {i}\n"));
        }
        text.push_str("partial");
        std::fs::write(dir.join("console.log"), &text).unwrap();
        std::fs::write(dir.join("console.log.1.gz"), "zipped\n").unwrap();

        let b = next_batch(logs, "3", &Offsets::new());
        assert_eq!(b.entries.len(), MAX_ENTRIES);
        assert_eq!(b.entries[0]["plat"], "web");
        assert_eq!(b.entries[0]["src"], "lxc/console.log");
        assert_eq!(b.entries[0]["rev"], "3");
        assert_eq!(b.entries[0]["msg"], "line 0");
        let mut sent = Offsets::new();
        sent.extend(b.reach);
        let b = next_batch(logs, "3", &sent);
        assert_eq!(b.entries.len(), 50, "the rest, without the partial line");
        assert_eq!(b.entries[0]["msg"], "line 200");
        sent.extend(b.reach);
        assert!(next_batch(logs, "3", &sent).entries.is_empty());
        assert_eq!(sent["3/web/lxc/console.log"], text.len() as u64 - 7);
    }

    #[test]
    fn a_batch_stays_under_256_kib() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("0/pantavisor");
        std::fs::create_dir_all(&dir).unwrap();
        let line = "x".repeat(3000);
        let text: String = (0..150).map(|_| format!("{line}\n")).collect();
        std::fs::write(dir.join("pantavisor.log"), &text).unwrap();
        let b = next_batch(d.path(), "0", &Offsets::new());
        let size = serde_json::to_vec(&b.entries).unwrap().len();
        assert!(size <= MAX_BYTES, "{size}");
        assert!(b.entries.len() < 150 && !b.entries.is_empty());
    }
}
