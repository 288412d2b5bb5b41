//! `deploy <dir>`: a local transaction laid out as a device trail:
//! `.pvr/json` (the state, canonical), `.pvr/config` (kept from the
//! directory, else `{"ObjectsDir": "<object dir>"}`), every object
//! hard-linked from the object directory (copied across filesystems),
//! inline JSON written canonical, and the `.pv/` boot links of
//! `bsp/run.json`. Built beside the target and swapped in by renames: the
//! old directory stays as `<dir>.bak` until the new one is in place.

use std::fs;
use std::path::{Path, PathBuf};

use pv_objects::ObjectStore;
use pv_types::manifest::{self, BspRunJson};
use pv_types::{ObjectId, State};

use crate::{Result, TxError};

fn fs_err<'a>(op: &'static str, p: &'a Path) -> impl FnOnce(std::io::Error) -> TxError + 'a {
    move |e| pv_fs::FsError::new(op, p, e).into()
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// Deploy `state` with objects from `store` into `target`.
pub fn deploy(state: &State, store: &ObjectStore, target: &Path) -> Result<()> {
    let target = target.trim_end_slash();
    let tmp = with_suffix(&target, ".pvtx-new");
    let bak = with_suffix(&target, ".bak");
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(fs_err("remove", &tmp))?;
    }
    let built = build(state, store, &target, &tmp);
    if let Err(e) = built {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    pv_fs::syncfs(&tmp)?;
    if bak.exists() {
        fs::remove_dir_all(&bak).map_err(fs_err("remove", &bak))?;
    }
    let had_old = target.exists();
    if had_old {
        pv_fs::rename_durable(&target, &bak)?;
    }
    if let Err(e) = pv_fs::rename_durable(&tmp, &target) {
        if had_old {
            let _ = fs::rename(&bak, &target);
        }
        let _ = fs::remove_dir_all(&tmp);
        return Err(e.into());
    }
    if had_old {
        fs::remove_dir_all(&bak).map_err(fs_err("remove", &bak))?;
    }
    Ok(())
}

trait TrimSlash {
    fn trim_end_slash(&self) -> PathBuf;
}

impl TrimSlash for Path {
    fn trim_end_slash(&self) -> PathBuf {
        self.components().collect()
    }
}

fn build(state: &State, store: &ObjectStore, target: &Path, tmp: &Path) -> Result<()> {
    let pvr = tmp.join(".pvr");
    fs::create_dir_all(&pvr).map_err(fs_err("create directory", &pvr))?;
    fs::write(pvr.join("json"), state.to_canonical()).map_err(fs_err("write", &pvr))?;
    let old_config = target.join(".pvr/config");
    let config = match fs::read(&old_config) {
        Ok(b) => b,
        Err(_) => format!(
            "{{\"ObjectsDir\": {}}}",
            pv_json::quote(&store.dir().to_string_lossy())
        )
        .into_bytes(),
    };
    fs::write(pvr.join("config"), config).map_err(fs_err("write", &pvr))?;
    for (key, v) in state.iter().filter(|(k, _)| *k != "#spec") {
        let dest =
            pv_fs::safe_join(tmp, key).map_err(|e| TxError::bad(format!("key {key:?}: {e}")))?;
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(fs_err("create directory", parent))?;
        }
        if State::is_inline_json(key, v) {
            fs::write(&dest, pv_json::to_canonical(v)).map_err(fs_err("write", &dest))?;
            continue;
        }
        let id: ObjectId = v
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| TxError::bad(format!("key {key:?}: not an object id")))?;
        if !store.contains(&id) {
            return Err(TxError::bad(format!(
                "object {id} of {key} is not in {}",
                store.dir().display()
            )));
        }
        if store.link_out(&id, &dest).is_err() {
            store.copy_out(&id, &dest)?;
        }
    }
    boot_links(state, tmp)
}

/// `.pv/` hard links for the bootloader ([`BspRunJson::boot_links`], as
/// `pvr deploy` and the runtime make them).
fn boot_links(state: &State, root: &Path) -> Result<()> {
    let Some(v) = state.get("bsp/run.json") else {
        return Ok(());
    };
    let bsp: BspRunJson =
        manifest::parse(v).map_err(|e| TxError::bad(format!("bsp/run.json: {e}")))?;
    let pv = root.join(".pv");
    fs::create_dir_all(&pv).map_err(fs_err("create directory", &pv))?;
    for (name, file) in bsp.boot_links() {
        let src = pv_fs::safe_join(&root.join("bsp"), &file)
            .map_err(|e| TxError::bad(format!("bsp/run.json names {file:?}: {e}")))?;
        if !src.is_file() {
            // as the original: a BSP without that file is deployed anyway
            continue;
        }
        let dest = pv.join(name);
        fs::hard_link(&src, &dest).map_err(fs_err("hard link", &dest))?;
    }
    Ok(())
}
