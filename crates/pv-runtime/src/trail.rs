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

use crate::layout::Layout;
use crate::{Error, Result};

/// Install `state_text` (a state JSON) as revision `rev`. Every object must
/// already be in the pool.
pub fn install(layout: &Layout, rev: &str, state_text: &[u8], pool: &ObjectStore) -> Result<State> {
    if !pv_types::is_revision(rev) {
        return Err(Error::BadRevision(rev.to_string()));
    }
    let state = State::from_slice(state_text).map_err(|source| Error::StateParse {
        rev: rev.into(),
        source,
    })?;
    state
        .validate_structure()
        .map_err(|source| Error::InvalidState {
            rev: rev.into(),
            source,
        })?;
    if let Some(id) = state.object_ids().into_iter().find(|id| !pool.contains(id)) {
        return Err(Error::MissingObject {
            rev: rev.into(),
            id,
        });
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
                .map_err(|source| Error::NotAnObjectId {
                    key: k.clone(),
                    source,
                })?;
            pool.link_out(&id, &dest)?;
            let src = pool.path(&id);
            fs::set_permissions(&src, fs::Permissions::from_mode(0o444)).at("chmod", &src)?;
        }
    }
    // records of the revision (progress of its upload, commit message)
    // carry over when an uploaded step is installed
    let old_pv = target.join(".pv");
    if old_pv.is_dir() {
        fs::create_dir_all(tmp.join(".pv")).at("create directory", &tmp)?;
        for e in fs::read_dir(&old_pv)
            .at("read directory", &old_pv)?
            .flatten()
        {
            if e.file_type().map(|t| t.is_file()).unwrap_or(false) {
                let to = tmp.join(".pv").join(e.file_name());
                fs::copy(e.path(), &to).at("copy", &to)?;
            }
        }
    }
    crate::bootfiles::write(&tmp, &state)?;
    // everything inside is written; make it durable, then publish the trail
    pv_fs::syncfs(&tmp)?;
    pv_fs::fault::point("trail:assembled");
    if target.exists() {
        // move the old one aside atomically, so a crash never leaves a half-deleted trail
        let old = parent.join(format!(
            ".{}{}old",
            target.file_name().unwrap().to_string_lossy(),
            pv_fs::TEMP_MARKER
        ));
        let _ = fs::remove_dir_all(&old);
        pv_fs::rename_durable(&target, &old)?;
        pv_fs::rename_durable(&tmp, &target)?;
        fs::remove_dir_all(&old).at("remove", &old)?;
    } else {
        pv_fs::rename_durable(&tmp, &target)?;
    }
    Ok(state)
}

/// The state text of an installed revision.
pub fn read_state(layout: &Layout, rev: &str) -> Result<(Vec<u8>, State)> {
    let p = layout.trail(rev).join(".pvr/json");
    let text = fs::read(&p).map_err(|e| Error::StateNotFound {
        rev: rev.into(),
        source: pv_fs::FsError::new("read", &p, e),
    })?;
    let state = State::from_slice(&text).map_err(|source| Error::StateParse {
        rev: rev.into(),
        source,
    })?;
    Ok((text, state))
}

/// Remove leftovers of interrupted installs.
/// A reinstall interrupted between moving the old trail aside and
/// publishing the new one gets the old trail back.
pub fn clean_temp(layout: &Layout) {
    for dir in [layout.trails(), layout.trails().join("locals")] {
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        let mut names: Vec<String> = rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names.iter().filter(|n| n.contains(pv_fs::TEMP_MARKER)) {
            let p = dir.join(name);
            let suffix = format!("{}old", pv_fs::TEMP_MARKER);
            if let Some(orig) = name.strip_suffix(&suffix).and_then(|n| n.strip_prefix('.')) {
                let target = dir.join(orig);
                if !target.exists() && pv_fs::rename_durable(&p, &target).is_ok() {
                    continue;
                }
            }
            let _ = fs::remove_dir_all(&p);
        }
    }
}
