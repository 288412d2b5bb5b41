//! Objects of a remote revision: up to N parallel downloads into partial
//! files (`<storage>/cache/hub-downloads/<sha>.part`), resumed from their
//! last byte with a `Range` request after a cut or a restart, and moved
//! into the pool only once their sha256 is right (the pool re-hashes).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use pv_hub_proto::HubAgent;
use pv_objects::ObjectStore;
use pv_types::ObjectId;
use tracing::{info, warn};

use crate::layout::Layout;

const SUFFIX: &str = ".part";

/// The partial downloads' directory.
pub fn dir(layout: &Layout) -> PathBuf {
    layout.cache().join("hub-downloads")
}

/// Boot janitor: keep the partials of objects not yet in the pool (they
/// resume) and the records of remote revisions (`rev-*`), remove anything
/// else.
pub fn clean(layout: &Layout, pool: &ObjectStore) {
    let Ok(rd) = std::fs::read_dir(dir(layout)) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let keep = name.starts_with("rev-") && !pv_fs::is_temp_name(&name)
            || name
                .strip_suffix(SUFFIX)
                .and_then(|s| s.parse::<ObjectId>().ok())
                .is_some_and(|id| !pool.contains(&id));
        if !keep {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Byte counters of a download run (spec hub.md §4.7 `downloads.total`).
#[derive(Debug, Default)]
pub struct Counters {
    pub total: AtomicU64,
    pub downloaded: AtomicU64,
}

/// One object to fetch.
struct Job {
    id: ObjectId,
    size: u64,
    url: String,
}

fn io_err(op: &str, p: &Path, e: std::io::Error) -> String {
    format!("{op} {}: {e}", p.display())
}

/// Fetch the objects of `ids` the pool lacks. `counters` sees the sizes
/// first, then every byte; `tick` is called as bytes arrive.
pub fn fetch(
    hub: &HubAgent,
    layout: &Layout,
    pool: &ObjectStore,
    ids: &[ObjectId],
    parallel: usize,
    counters: &Counters,
    tick: &(dyn Fn() + Sync),
) -> Result<(), String> {
    let dir = dir(layout);
    std::fs::create_dir_all(&dir).map_err(|e| io_err("create", &dir, e))?;
    let mut jobs = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for id in ids {
        if pool.contains(id) || !seen.insert(*id) {
            continue;
        }
        let info = hub.object(&id.to_hex()).map_err(|e| e.to_string())?;
        let size = info.size();
        counters.total.fetch_add(size, Ordering::Relaxed);
        let have = std::fs::metadata(dir.join(format!("{}{SUFFIX}", id.to_hex())))
            .map(|m| m.len().min(size))
            .unwrap_or(0);
        counters.downloaded.fetch_add(have, Ordering::Relaxed);
        jobs.push(Job {
            id: *id,
            size,
            url: info.signed_geturl,
        });
    }
    let next = AtomicUsize::new(0);
    let first_error = Mutex::new(None::<String>);
    let workers = parallel.clamp(1, jobs.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { return };
                if first_error.lock().expect("error").is_some() {
                    return;
                }
                if let Err(e) = fetch_one(hub, &dir, pool, job, counters, tick) {
                    first_error.lock().expect("error").get_or_insert(e);
                    return;
                }
            });
        }
    });
    match first_error.into_inner().expect("error") {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn fetch_one(
    hub: &HubAgent,
    dir: &Path,
    pool: &ObjectStore,
    job: &Job,
    counters: &Counters,
    tick: &(dyn Fn() + Sync),
) -> Result<(), String> {
    let part = dir.join(format!("{}{SUFFIX}", job.id.to_hex()));
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&part)
        .map_err(|e| io_err("open", &part, e))?;
    let mut have = f.metadata().map_err(|e| io_err("stat", &part, e))?.len();
    if have > job.size {
        f.set_len(0).map_err(|e| io_err("truncate", &part, e))?;
        counters.downloaded.fetch_sub(job.size, Ordering::Relaxed);
        have = 0;
    }
    if have < job.size {
        if have > 0 {
            info!("object {}: resuming at byte {have}", job.id);
        }
        let mut on_bytes = |n: u64| {
            counters.downloaded.fetch_add(n, Ordering::Relaxed);
            tick();
        };
        let start = hub
            .download(&job.url, have, &part, &mut on_bytes)
            .map_err(|e| e.to_string())?;
        if start == 0 && have > 0 {
            // the hub ignored the range: start over
            f.set_len(0).map_err(|e| io_err("truncate", &part, e))?;
            counters.downloaded.fetch_sub(have, Ordering::Relaxed);
            hub.download(&job.url, 0, &part, &mut on_bytes)
                .map_err(|e| e.to_string())?;
        }
    }
    drop(f);
    let r = File::open(&part).map_err(|e| io_err("open", &part, e))?;
    match pool.put_reader(r, Some(&job.id), &part) {
        Ok(_) => {
            let _ = std::fs::remove_file(&part);
            Ok(())
        }
        Err(e) => {
            warn!("object {}: {e}", job.id);
            let _ = std::fs::remove_file(&part);
            Err(format!("object {}: {e}", job.id))
        }
    }
}
