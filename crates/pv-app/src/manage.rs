//! `pvr app ls`, `app info`, `app rm`.

use std::path::Path;

use pv_fs::IoResultExt;

use crate::error::{AppError, Result};
use crate::ops::app_dir;
use crate::src_json::{info_text, Source, SRC_FILE};

/// `app ls`: the directories of the checkout that hold a `src.json`, sorted.
pub fn app_ls(checkout: &Path) -> Result<Vec<String>> {
    let mut out = vec![];
    for e in std::fs::read_dir(checkout).at("read directory", checkout)? {
        let e = e.at("read directory", checkout)?;
        let name = e.file_name().to_string_lossy().into_owned();
        if pv_fs::is_temp_name(&name) {
            continue;
        }
        if e.path().join(SRC_FILE).is_file() {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// `app info <name>`: src.json re-indented with 4 spaces (no trailing newline).
pub fn app_info(checkout: &Path, name: &str) -> Result<String> {
    let (name, dir) = app_dir(checkout, name)?;
    if !dir.join(SRC_FILE).is_file() {
        return Err(AppError::NotFound(name));
    }
    Ok(info_text(&Source::read(&dir)?))
}

/// `app rm <name>`: delete `<name>/` (not `_config/<name>` nor `_sigs/<name>.json`).
pub fn app_rm(checkout: &Path, name: &str) -> Result<()> {
    let (name, dir) = app_dir(checkout, name)?;
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if m.is_dir() => {
            std::fs::remove_dir_all(&dir).at("remove", &dir)?;
            pv_fs::fsync_dir(dir.parent().unwrap_or(checkout))?;
            Ok(())
        }
        _ => Err(AppError::NotFound(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ls_info_rm() {
        let d = tempfile::tempdir().unwrap();
        let c = d.path();
        std::fs::create_dir_all(c.join("b")).unwrap();
        std::fs::create_dir_all(c.join("a")).unwrap();
        std::fs::create_dir_all(c.join("bsp")).unwrap();
        std::fs::write(
            c.join("b/src.json"),
            br##"{"#spec":"service-manifest-src@1","args":{"PV_GROUP":"<app>"}}"##,
        )
        .unwrap();
        std::fs::write(
            c.join("a/src.json"),
            br##"{"#spec":"service-manifest-src@1"}"##,
        )
        .unwrap();
        assert_eq!(app_ls(c).unwrap(), ["a", "b"]);
        assert_eq!(
            app_info(c, "/b/").unwrap(),
            "{\n    \"#spec\": \"service-manifest-src@1\",\n    \"args\": {\n        \"PV_GROUP\": \"\\u003capp\\u003e\"\n    }\n}"
        );
        assert_eq!(
            app_info(c, "zz").unwrap_err().to_string(),
            "App 'zz' doesn't exist"
        );
        app_rm(c, "a").unwrap();
        assert_eq!(app_ls(c).unwrap(), ["b"]);
        assert_eq!(
            app_rm(c, "a").unwrap_err().to_string(),
            "App 'a' doesn't exist"
        );
    }
}
