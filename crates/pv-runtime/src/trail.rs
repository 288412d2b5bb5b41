//! Installing a revision as a trail: `trails/<rev>/` with `.pvr/json` (the
//! state text, verbatim), `.pvr/config`, every object hard-linked from the
//! pool (read-only) and every inline JSON written canonically.
//!
//! The trail is assembled in a temp directory and renamed into place, so a
//! crash leaves either no trail or a complete one.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use pv_fs::IoResultExt;
use pv_objects::ObjectStore;
use pv_types::State;

use crate::layout::{valid_revision, Layout};
use crate::{Error, Result};

/// Install `state_text` (a state JSON) as revision `rev`. Every object must
/// already be in the pool.
pub fn install(layout: &Layout, rev: &str, state_text: &[u8], pool: &ObjectStore) -> Result<State> {
    if !valid_revision(rev) {
        return Err(Error::BadRevision(rev.to_string()));
    }
    let state = State::from_slice(state_text)
        .map_err(|e| Error::BadState(format!("revision {rev}: {e}")))?;
    state
        .validate_structure()
        .map_err(|r| Error::BadState(format!("revision {rev}: {r}")))?;
    for id in state.object_ids() {
        if !pool.contains(&id) {
            return Err(Error::BadState(format!(
                "revision {rev}: object {id} is missing"
            )));
        }
    }
    let target = layout.trail(rev);
    let parent = target.parent().expect("trail has a parent").to_path_buf();
    fs::create_dir_all(&parent).at("create directory", &parent)?;
    let tmp = parent.join(format!(
        ".{}{}install",
        target.file_name().unwrap().to_string_lossy(),
        pv_fs::TEMP_MARKER
    ));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(tmp.join(".pvr")).at("create directory", &tmp)?;
    pv_fs::write_atomic(tmp.join(".pvr/json"), state_text)?;
    let cfg = format!(
        "{{\"ObjectsDir\": {}}}",
        pv_json::to_canonical_string(&serde_json::Value::String(
            pool.dir().to_string_lossy().into()
        ))
    );
    pv_fs::write_atomic(tmp.join(".pvr/config"), cfg.as_bytes())?;
    for (k, v) in state.iter().filter(|(k, _)| *k != "#spec") {
        let dest = pv_fs::safe_join(&tmp, k)?;
        if let Some(p) = dest.parent() {
            fs::create_dir_all(p).at("create directory", p)?;
        }
        if State::is_inline_json(k, v) {
            fs::write(&dest, pv_json::to_canonical(v)).at("write", &dest)?;
        } else {
            let id = v
                .as_str()
                .unwrap_or("")
                .parse()
                .map_err(|_| Error::BadState(format!("key {k}: not an object id")))?;
            pool.link_out(&id, &dest)?;
            let src = pool.path(&id);
            fs::set_permissions(&src, fs::Permissions::from_mode(0o444)).at("chmod", &src)?;
        }
    }
    // everything inside is written; make it durable, then publish the trail
    pv_fs::syncfs(&tmp)?;
    if target.exists() {
        fs::remove_dir_all(&target).at("remove", &target)?;
    }
    pv_fs::rename_durable(&tmp, &target)?;
    Ok(state)
}

/// The state text of an installed revision.
pub fn read_state(layout: &Layout, rev: &str) -> Result<(Vec<u8>, State)> {
    let p = layout.trail(rev).join(".pvr/json");
    let text = fs::read(&p)
        .map_err(|_| Error::BadState(format!("revision {rev}: State JSON not found")))?;
    let state =
        State::from_slice(&text).map_err(|e| Error::BadState(format!("revision {rev}: {e}")))?;
    Ok((text, state))
}

/// Remove leftovers of interrupted installs.
pub fn clean_temp(layout: &Layout) {
    for dir in [layout.trails(), layout.trails().join("locals")] {
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().contains(pv_fs::TEMP_MARKER) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
}
