//! `pvr commit`.

use std::io::Write;

use pv_objects::IngestItem;
use pv_types::{State, SPEC_SERVICE_SYSTEM};
use serde_json::Value;

use crate::progress::Progress;
use crate::{checkout, history, status, working, Repo, Result};

/// Default commit message, as pvr writes it.
pub const NO_MESSAGE: &str = "** No commit message **";

/// What a commit did.
#[derive(Debug, Clone, Default)]
pub struct CommitReport {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    /// Objects copied into the pool.
    pub objects_written: usize,
    /// sha256 of the new `.pvr/json`.
    pub state_sha: String,
}

/// Commit the working tree. Objects are made durable before the new state
/// is written, so a crash leaves either the old or the new commit.
pub fn commit(
    repo: &Repo,
    message: Option<&str>,
    log: &mut dyn Write,
    progress: &Progress,
) -> Result<CommitReport> {
    let timer = Timer::start();
    let pristine = repo.pristine()?;
    // a hand-edited `.pvr/json` is refused as checkout refuses it
    checkout::validate_keys(repo, &pristine, "committed state")?;
    let staged = repo.staged()?;
    let work = working::compute(repo, &pristine, &staged, progress)?;
    timer.lap("working state");
    let patch = status::diff(&pristine, &work.state);
    let mut report = CommitReport::default();
    let mut items = vec![];
    for (k, v) in &patch {
        match v {
            Value::Null => {
                report.removed.push(k.clone());
                let _ = writeln!(log, "Removing {k}");
            }
            _ => {
                if pristine.contains_key(k) {
                    report.changed.push(k.clone());
                } else {
                    report.added.push(k.clone());
                }
                if let Some(src) = work.sources.get(k) {
                    let id = v.as_str().and_then(|s| s.parse().ok());
                    let _ = writeln!(
                        log,
                        "Adding raw {} with {}",
                        src.display(),
                        v.as_str().unwrap_or("")
                    );
                    items.push(IngestItem {
                        src: src.clone(),
                        expected: id,
                    });
                } else {
                    let _ = writeln!(log, "Adding inline {k}");
                }
            }
        }
    }
    let mut map = pristine.clone().into_map();
    pv_json::merge_patch::apply(&mut map, &patch);
    let mut next = State::from_map(map);
    if next.spec().is_none() {
        // pvr cannot commit a state without #spec; we adopt the default
        next.insert("#spec", Value::String(SPEC_SERVICE_SYSTEM.into()));
    }
    // nothing is written (not even objects) for a state checkout would refuse
    checkout::validate_keys(repo, &next, "working tree")?;
    let bar = progress.bytes("storing", || {
        items
            .iter()
            .filter_map(|i| i.src.metadata().ok())
            .map(|m| m.len())
            .sum()
    });
    let stats = repo.objects.ingest(&items, &|n| bar.inc(n))?;
    bar.finish();
    timer.lap("objects");
    report.objects_written = stats.written;

    repo.write_pristine(&next)?;
    let msg = message.unwrap_or(NO_MESSAGE);
    pv_fs::write_atomic(repo.pvr_dir().join("commitmsg"), msg.as_bytes())?;
    repo.clear_staged()?;
    report.state_sha = next.sha().to_hex();
    history::record(repo, &next, msg)?;
    timer.lap("state");
    Ok(report)
}

/// `commit --checkpoint`: write and stage `checkpoint.json` =
/// `{"major":"<now, RFC 3339>"}`.
pub fn write_checkpoint(repo: &Repo, progress: &Progress) -> Result<()> {
    checkout::validate_keys(repo, &repo.pristine()?, "committed state")?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut m = serde_json::Map::new();
    m.insert("major".into(), Value::String(now));
    pv_fs::write_atomic(
        repo.root.join("checkpoint.json"),
        &pv_json::to_canonical(&Value::Object(m)),
    )?;
    working::add(repo, &["checkpoint.json".to_string()], false, progress)?;
    Ok(())
}

/// Phase timings on stderr when `PVR_TIMINGS` is set.
struct Timer(Option<std::cell::Cell<std::time::Instant>>);

impl Timer {
    fn start() -> Self {
        Timer(
            std::env::var_os("PVR_TIMINGS")
                .map(|_| std::cell::Cell::new(std::time::Instant::now())),
        )
    }
    fn lap(&self, what: &str) {
        if let Some(t) = &self.0 {
            eprintln!("timing: {what}: {:.3}s", t.get().elapsed().as_secs_f64());
            t.set(std::time::Instant::now());
        }
    }
}
