//! Progress records of revisions: `trails/<rev>/.pv/progress` (spec §4.2).

use std::path::Path;

use serde_json::Value;

use crate::layout::Layout;

/// One progress record. Serialised with the original's key order:
/// status, status-msg, progress, retries, then logs when present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub status: String,
    pub msg: String,
    pub progress: u32,
    pub retries: u32,
    pub logs: Option<String>,
}

/// The fixed progress number of a status.
pub fn progress_of(status: &str) -> u32 {
    match status {
        "NEW" => 0,
        "QUEUED" => 5,
        "DOWNLOADING" => 25,
        "INPROGRESS" => 50,
        "TESTING" => 75,
        _ => 100,
    }
}

impl Progress {
    pub fn new(status: &str, msg: &str) -> Self {
        Progress {
            status: status.into(),
            msg: msg.into(),
            progress: progress_of(status),
            retries: 0,
            logs: None,
        }
    }

    /// The JSON text.
    pub fn to_json(&self) -> String {
        let s = |v: &str| pv_json::to_canonical_string(&Value::String(v.into()));
        let mut out = format!(
            "{{\"status\":{},\"status-msg\":{},\"progress\":{},\"retries\":{}",
            s(&self.status),
            s(&self.msg),
            self.progress,
            self.retries
        );
        if let Some(l) = &self.logs {
            out.push_str(&format!(",\"logs\":{}", s(l)));
        }
        out.push('}');
        out
    }

    pub fn parse(bytes: &[u8]) -> Option<Progress> {
        let v = pv_json::parse(bytes).ok()?;
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(String::from);
        Some(Progress {
            status: s("status")?,
            msg: s("status-msg").unwrap_or_default(),
            progress: v
                .get("progress")
                .and_then(pv_types::manifest::value_as_u64)
                .unwrap_or(0) as u32,
            retries: v
                .get("retries")
                .and_then(pv_types::manifest::value_as_u64)
                .unwrap_or(0) as u32,
            logs: s("logs"),
        })
    }

    /// True for DONE, UPDATED, WONTGO, ERROR.
    pub fn is_final(&self) -> bool {
        matches!(
            self.status.as_str(),
            "DONE" | "UPDATED" | "WONTGO" | "ERROR"
        )
    }
}

/// Durably write the progress of `rev`.
pub fn write(layout: &Layout, rev: &str, p: &Progress) -> Result<(), pv_fs::FsError> {
    let dir = layout.trail(rev).join(".pv");
    std::fs::create_dir_all(&dir).map_err(|e| pv_fs::FsError::new("create directory", &dir, e))?;
    pv_fs::write_atomic(dir.join("progress"), p.to_json().as_bytes())
}

/// The progress of `rev`, if any.
pub fn read(layout: &Layout, rev: &str) -> Option<Progress> {
    Progress::parse(&std::fs::read(layout.trail(rev).join(".pv/progress")).ok()?)
}

/// Commit step 1: the DONE record is prepared next to the progress
/// (`.pv/progress.commit`) but not visible yet.
pub fn prepare_commit(layout: &Layout, rev: &str, p: &Progress) -> Result<(), pv_fs::FsError> {
    pv_fs::write_atomic(
        layout.trail(rev).join(".pv/progress.commit"),
        p.to_json().as_bytes(),
    )
}

/// Commit step 3 (after the boot env commit): the prepared record becomes
/// the progress and `.pv/done` is written. Idempotent.
pub fn finish_commit(layout: &Layout, rev: &str) -> Result<(), pv_fs::FsError> {
    let dir = layout.trail(rev).join(".pv");
    let prepared = dir.join("progress.commit");
    if prepared.exists() {
        pv_fs::rename_durable(&prepared, &dir.join("progress"))?;
    }
    mark_done(layout, rev)
}

/// At boot: complete a commit whose boot-env step happened (`committed`
/// is the env's pv_rev), drop one whose did not.
pub fn recover_commits(layout: &Layout, committed: &str) {
    let mut revs = vec![];
    for dir in [layout.trails(), layout.trails().join("locals")] {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let rev = if dir.ends_with("locals") {
                format!("locals/{name}")
            } else {
                name
            };
            // `trails/current` is a link to a revision, not one
            if !pv_types::is_revision(&rev) || e.file_type().map(|t| t.is_symlink()).unwrap_or(true)
            {
                continue;
            }
            if e.path().join(".pv/progress.commit").exists() {
                revs.push(rev);
            }
        }
    }
    // the commit reached its last step but `.pv/done` was not written yet
    if read(layout, committed).is_some_and(|p| p.status == "DONE") && !is_done(layout, committed) {
        let _ = mark_done(layout, committed);
    }
    for rev in revs {
        if rev == committed {
            let _ = finish_commit(layout, &rev);
        } else {
            let _ = pv_fs::remove_durable(&layout.trail(&rev).join(".pv/progress.commit"));
        }
    }
}

/// Mark `rev` as committed (`.pv/done`).
pub fn mark_done(layout: &Layout, rev: &str) -> Result<(), pv_fs::FsError> {
    pv_fs::write_atomic(layout.trail(rev).join(".pv/done"), b"")
}

/// True if `rev` has been committed.
pub fn is_done(layout: &Layout, rev: &str) -> bool {
    Path::new(&layout.trail(rev).join(".pv/done")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factory_record_matches_the_original() {
        let p = Progress::new("DONE", "Factory revision");
        assert_eq!(
            p.to_json(),
            r#"{"status":"DONE","status-msg":"Factory revision","progress":100,"retries":0}"#
        );
        assert_eq!(Progress::parse(p.to_json().as_bytes()).unwrap(), p);
        let mut t = Progress::new("ERROR", "A container could not be started");
        t.logs = Some("{\"lvl\":\"ERROR\"}\n".into());
        assert!(t.to_json().ends_with(r#","logs":"{\"lvl\":\"ERROR\"}\n"}"#));
    }
}
