//! The invariants checked on the stopped storage after a run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use crate::runtime::{current, progress_status};
use crate::scenarios::{Action, Expect, Scenario, OLD};

fn env_vars(storage: &Path) -> Result<BTreeMap<String, String>, String> {
    let env =
        std::fs::read(storage.join("boot/uboot.txt")).map_err(|e| format!("boot env: {e}"))?;
    Ok(env
        .split(|b| *b == 0)
        .filter(|r| !r.is_empty())
        .filter_map(|r| {
            String::from_utf8_lossy(r)
                .split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect())
}

/// A trail is complete: its state parses, every object is present with the
/// right sha256 and linked into the trail, every inline JSON is there.
fn check_trail(storage: &Path, r: &str) -> Result<(), String> {
    let t = storage.join("trails").join(r);
    let text = std::fs::read(t.join(".pvr/json")).map_err(|e| format!("trail {r}: {e}"))?;
    let state = pv_types::State::from_slice(&text).map_err(|e| format!("trail {r}: {e}"))?;
    for (key, id) in state.objects() {
        let obj = storage.join("objects").join(id.to_hex());
        let data = std::fs::read(&obj).map_err(|e| format!("object {id} of {r}: {e}"))?;
        if pv_types::ObjectId::of(&data) != id {
            return Err(format!("object {id} of {r} is corrupt"));
        }
        let linked =
            std::fs::read(t.join(key)).map_err(|e| format!("trail {r} file {key}: {e}"))?;
        if linked != data {
            return Err(format!("trail {r} file {key} differs"));
        }
    }
    for (key, v) in state.iter() {
        if key != "#spec" && pv_types::State::is_inline_json(key, v) {
            let f = std::fs::read(t.join(key)).map_err(|e| format!("trail {r} file {key}: {e}"))?;
            serde_json::from_slice::<serde_json::Value>(&f)
                .map_err(|e| format!("trail {r} file {key}: {e}"))?;
        }
    }
    Ok(())
}

/// I1/I2 and the running revision: every revision the env names or the
/// device runs is complete.
fn check_env_revisions(storage: &Path, vars: &BTreeMap<String, String>) -> Result<(), String> {
    let cur = current(storage);
    for r in [vars.get("pv_rev"), vars.get("pv_try"), Some(&cur)]
        .into_iter()
        .flatten()
        .filter(|r| !r.is_empty())
    {
        check_trail(storage, r)?;
    }
    Ok(())
}

/// I5: nothing left half-written.
fn check_no_temp(storage: &Path) -> Result<(), String> {
    let out = Command::new("find")
        .arg(storage)
        .args(["-name", "*pvtmp*"])
        .output()
        .unwrap();
    if !out.stdout.is_empty() {
        return Err(format!(
            "temp files left: {}",
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    let out = Command::new("find")
        .arg(storage.join("trails"))
        .args(["-name", "progress.commit"])
        .output()
        .unwrap();
    if !out.stdout.is_empty() {
        return Err(format!(
            "prepared commit left: {}",
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    Ok(())
}

/// A successful update (or a rollback the crash legitimately caused).
fn check_success(storage: &Path, rev: &str) -> Result<(), String> {
    let vars = env_vars(storage)?;
    let pv_rev = vars.get("pv_rev").cloned().unwrap_or_default();
    let pv_try = vars.get("pv_try").cloned().unwrap_or_default();
    if pv_rev != OLD && pv_rev != rev {
        return Err(format!("pv_rev is {pv_rev:?}"));
    }
    check_env_revisions(storage, &vars)?;
    // I3: DONE exactly when committed
    let status = progress_status(storage, rev);
    let done = status == "DONE";
    if done != (pv_rev == rev) {
        return Err(format!("pv_rev {pv_rev} but progress of {rev}: {status}"));
    }
    if done && !storage.join("trails").join(rev).join(".pv/done").exists() {
        return Err("DONE without .pv/done".into());
    }
    // I4: UPDATED leaves the try for the next boot
    if status == "UPDATED" && (pv_try != rev || current(storage) != rev) {
        return Err(format!(
            "UPDATED but pv_try {pv_try:?}, running {}",
            current(storage)
        ));
    }
    // the device runs a complete revision: the last DONE or the new one
    let cur = current(storage);
    if cur != pv_rev && cur != rev {
        return Err(format!("running {cur}, pv_rev {pv_rev}"));
    }
    if status == "ERROR" && (cur != pv_rev || !pv_try.is_empty()) {
        return Err(format!(
            "ERROR but running {cur}, pv_rev {pv_rev}, pv_try {pv_try:?}"
        ));
    }
    check_no_temp(storage)
}

/// A failed update: back on the last DONE revision, the new one ERROR.
fn check_rollback(storage: &Path, rev: &str) -> Result<(), String> {
    let vars = env_vars(storage)?;
    let pv_rev = vars.get("pv_rev").cloned().unwrap_or_default();
    let pv_try = vars.get("pv_try").cloned().unwrap_or_default();
    check_env_revisions(storage, &vars)?;
    let text = std::fs::read_to_string(storage.join("trails").join(rev).join(".pv/progress"))
        .unwrap_or_default();
    if pv_rev != OLD {
        return Err(format!("pv_rev is {pv_rev:?}, progress of {rev}: {text}"));
    }
    if !pv_try.is_empty() {
        return Err(format!("pv_try is {pv_try:?}, progress of {rev}: {text}"));
    }
    let cur = current(storage);
    if cur != OLD {
        return Err(format!("running {cur}, progress of {rev}: {text}"));
    }
    if progress_status(storage, rev) != "ERROR" {
        return Err(format!("progress of {rev}: {text:?}"));
    }
    if storage.join("trails").join(rev).join(".pv/done").exists() {
        return Err(format!("{rev} marked done"));
    }
    check_no_temp(storage)
}

/// Installed revisions (`locals/…` included).
fn installed(storage: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (dir, prefix) in [
        (storage.join("trails"), ""),
        (storage.join("trails/locals"), "locals/"),
    ] {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().is_ok_and(|t| t.is_dir())
                && !name.starts_with('.')
                && !(prefix.is_empty() && name == "locals")
            {
                out.insert(format!("{prefix}{name}"));
            }
        }
    }
    out
}

/// After a GC (retried to completion after the crash): every revision the
/// device must keep is whole, nothing else is left, every object in the
/// pool is referenced by a kept revision and none is missing or corrupt.
fn check_gc(storage: &Path, keep_factory: bool, before: &BTreeSet<String>) -> Result<(), String> {
    let vars = env_vars(storage)?;
    check_env_revisions(storage, &vars)?;
    let mut keep: BTreeSet<String> = [vars.get("pv_rev"), vars.get("pv_try")]
        .into_iter()
        .flatten()
        .filter(|r| !r.is_empty())
        .cloned()
        .collect();
    keep.insert(current(storage));
    if keep_factory {
        keep.insert("0".into());
    }
    let now = installed(storage);
    for r in &keep {
        if !now.contains(r) {
            return Err(format!("kept revision {r} is gone"));
        }
        check_trail(storage, r)?;
    }
    let extra: Vec<&String> = now.difference(&keep).collect();
    if !extra.is_empty() {
        return Err(format!("revisions not collected: {extra:?}"));
    }
    if !now.is_subset(before) {
        return Err(format!("revisions appeared: {now:?} (before {before:?})"));
    }
    let mut needed = BTreeSet::new();
    for r in &now {
        let text = std::fs::read(storage.join("trails").join(r).join(".pvr/json"))
            .map_err(|e| format!("trail {r}: {e}"))?;
        let state = pv_types::State::from_slice(&text).map_err(|e| format!("trail {r}: {e}"))?;
        needed.extend(state.object_ids().into_iter().map(|i| i.to_hex()));
    }
    let pool: BTreeSet<String> = std::fs::read_dir(storage.join("objects"))
        .map_err(|e| format!("objects: {e}"))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let leaked: Vec<&String> = pool.difference(&needed).collect();
    if !leaked.is_empty() {
        return Err(format!("unreferenced objects left: {leaked:?}"));
    }
    check_no_temp(storage)
}

pub(crate) fn check(sc: &Scenario, root: &Path) -> Result<(), String> {
    let storage = root.join("storage");
    match &sc.action {
        Action::Update {
            rev,
            expect: Expect::Success,
            ..
        } => check_success(&storage, rev),
        Action::Update {
            rev,
            expect: Expect::Rollback,
            ..
        } => check_rollback(&storage, rev),
        Action::Gc { keep_factory } => check_gc(&storage, *keep_factory, &installed(&sc.storage)),
        Action::Upload { .. } => Ok(()),
    }
}
