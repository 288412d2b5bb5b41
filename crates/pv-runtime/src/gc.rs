//! The garbage collector (spec §10): removes revisions nobody needs any
//! more, their logs and revision disks, then objects no kept revision
//! references.
//!
//! Order keeps every kept revision whole at any instant: a trail is first
//! renamed away (atomic) and deleted; objects go only after every trail
//! that could reference them is gone, and never if a kept one does.

use std::collections::BTreeSet;
use std::fs;

use pv_objects::ObjectStore;
use pv_types::ObjectId;
use tracing::{info, warn};

use crate::layout::Layout;
use crate::{trail, Result};

/// What a collection removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    pub revisions: Vec<String>,
    pub objects: usize,
    pub bytes: u64,
}

/// Every installed revision, `locals/…` included.
pub fn revisions(layout: &Layout) -> Vec<String> {
    let mut out = vec![];
    for (dir, prefix) in [
        (layout.trails(), ""),
        (layout.trails().join("locals"), "locals/"),
    ] {
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let rev = format!("{prefix}{name}");
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) && pv_types::is_revision(&rev) {
                out.push(rev);
            }
        }
    }
    out.sort();
    out
}

/// Objects referenced by the given revisions' states.
pub fn referenced(layout: &Layout, revs: &BTreeSet<String>) -> BTreeSet<ObjectId> {
    let mut ids = BTreeSet::new();
    for r in revs {
        if let Ok((_, s)) = trail::read_state(layout, r) {
            ids.extend(s.object_ids());
        }
    }
    ids
}

/// Remove every revision not in `keep`, then unreferenced objects.
pub fn run(layout: &Layout, keep: &BTreeSet<String>) -> Result<GcReport> {
    let mut report = GcReport::default();
    for rev in revisions(layout) {
        if keep.contains(&rev) {
            continue;
        }
        let t = layout.trail(&rev);
        let parent = t.parent().expect("trail parent").to_path_buf();
        let gone = parent.join(format!(
            ".{}{}gc",
            t.file_name().unwrap().to_string_lossy(),
            pv_fs::TEMP_MARKER
        ));
        pv_fs::rename_durable(&t, &gone)?;
        pv_fs::fault::point("gc:trail-moved");
        let _ = fs::remove_dir_all(&gone);
        pv_fs::fault::point("gc:trail-removed");
        for extra in [
            layout.logs().join(&rev),
            layout.disks().join("rev").join(&rev),
        ] {
            if extra.exists() {
                if let Err(e) = fs::remove_dir_all(&extra) {
                    warn!("gc: {}: {e}", extra.display());
                }
            }
        }
        pv_fs::fault::point("gc:revision-removed");
        report.revisions.push(rev);
    }
    let kept: BTreeSet<String> = revisions(layout).into_iter().collect();
    let needed = referenced(layout, &kept);
    let pool = ObjectStore::open(layout.objects())?;
    for id in pool.list()? {
        if needed.contains(&id) {
            continue;
        }
        let p = pool.path(&id);
        report.bytes += p.metadata().map(|m| m.len()).unwrap_or(0);
        pool.remove(&id)?;
        pv_fs::fault::point("gc:object-removed");
        report.objects += 1;
    }
    if !report.revisions.is_empty() || report.objects > 0 {
        info!(
            "gc: removed revisions {:?} and {} objects ({} bytes)",
            report.revisions, report.objects, report.bytes
        );
    }
    Ok(report)
}
