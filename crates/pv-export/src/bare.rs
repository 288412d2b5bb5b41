//! Bare repositories: a checkout's `.pvr` or an unpacked export, with the
//! `config` that says where its objects are.

use std::fs;
use std::path::{Path, PathBuf};

use pv_fs::IoResultExt;
use pv_objects::ObjectStore;
use pv_types::State;
use serde_json::Value;

use crate::{Error, Result};

/// The per-checkout configuration, `.pvr/config`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoConfig {
    pub default_get_url: String,
    pub default_put_url: String,
    pub default_post_url: String,
    /// Absolute, or relative to the checkout root; empty means `.pvr/objects`.
    pub objects_dir: String,
}

impl RepoConfig {
    /// Parse `.pvr/config`; unknown and missing fields are tolerated.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        let v = pv_json::parse(bytes).map_err(|e| Error::BadRepoFile {
            path: path.into(),
            msg: e.to_string(),
        })?;
        let Value::Object(m) = v else {
            return Err(Error::BadRepoFile {
                path: path.into(),
                msg: "must be a JSON object".into(),
            });
        };
        let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        Ok(RepoConfig {
            default_get_url: s("DefaultGetUrl"),
            default_put_url: s("DefaultPutUrl"),
            default_post_url: s("DefaultPostUrl"),
            objects_dir: s("ObjectsDir"),
        })
    }

    /// The bytes pvr writes: TAB-indented, fields in struct order, no
    /// trailing newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let q = |s: &str| {
            pv_json::pretty::to_string(&Value::String(s.into()), pv_json::pretty::CHECKOUT)
        };
        format!(
            "{{\n\t\"DefaultGetUrl\": {},\n\t\"DefaultPutUrl\": {},\n\t\"DefaultPostUrl\": {},\n\t\"ObjectsDir\": {},\n\t\"AccessTokens\": {{}},\n\t\"RefreshTokens\": {{}}\n}}",
            q(&self.default_get_url),
            q(&self.default_put_url),
            q(&self.default_post_url),
            q(&self.objects_dir)
        )
        .into_bytes()
    }

    /// The object pool directory for a checkout rooted at `root`.
    pub fn objects_path(&self, root: &Path) -> PathBuf {
        if self.objects_dir.is_empty() {
            root.join(".pvr").join("objects")
        } else if Path::new(&self.objects_dir).is_absolute() {
            PathBuf::from(&self.objects_dir)
        } else {
            absolute(&root.join(&self.objects_dir))
        }
    }
}

/// Make `p` absolute against the current directory and clean it lexically
/// (`.` and `..` removed, as Go's `filepath.Abs` does; links not resolved).
pub fn absolute(p: &Path) -> PathBuf {
    use std::path::Component;
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Read a bare repository: `<dir>/json` plus its objects (`<dir>/objects`,
/// or the `ObjectsDir` of `<dir>/config`, relative to `<dir>/..`).
pub fn read_bare(dir: &Path) -> Result<(State, ObjectStore)> {
    let jp = dir.join("json");
    let bytes = fs::read(&jp).at("read", &jp)?;
    let state = State::from_slice(&bytes).map_err(|e| Error::BadRepoFile {
        path: jp.clone(),
        msg: e.to_string(),
    })?;
    let cp = dir.join("config");
    let objects_dir = match fs::read(&cp) {
        Ok(b) => {
            let c = RepoConfig::parse(&cp, &b)?;
            if c.objects_dir.is_empty() {
                dir.join("objects")
            } else {
                c.objects_path(dir.parent().unwrap_or(Path::new(".")))
            }
        }
        Err(_) => dir.join("objects"),
    };
    Ok((state, ObjectStore::open(objects_dir)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_bytes_match_pvr() {
        let c = RepoConfig {
            objects_dir: "/r/cfg/objects".into(),
            ..Default::default()
        };
        assert_eq!(
            String::from_utf8(c.to_bytes()).unwrap(),
            "{\n\t\"DefaultGetUrl\": \"\",\n\t\"DefaultPutUrl\": \"\",\n\t\"DefaultPostUrl\": \"\",\n\t\"ObjectsDir\": \"/r/cfg/objects\",\n\t\"AccessTokens\": {},\n\t\"RefreshTokens\": {}\n}"
        );
        let back = RepoConfig::parse(Path::new("c"), &c.to_bytes()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn relative_objects_dir_is_relative_to_checkout() {
        let c = RepoConfig {
            objects_dir: "../cfg/objects".into(),
            ..Default::default()
        };
        assert_eq!(
            c.objects_path(Path::new("/w/repo")),
            Path::new("/w/cfg/objects")
        );
    }

    #[test]
    fn bare_repository_objects_follow_its_config() {
        let d = tempfile::tempdir().unwrap();
        let bare = d.path().join("repo/.pvr");
        fs::create_dir_all(&bare).unwrap();
        fs::write(
            bare.join("json"),
            r##"{"#spec":"pantavisor-service-system@1"}"##,
        )
        .unwrap();
        let (_, pool) = read_bare(&bare).unwrap();
        assert_eq!(pool.dir(), bare.join("objects"));
        let c = RepoConfig {
            objects_dir: "../pool".into(),
            ..Default::default()
        };
        fs::write(bare.join("config"), c.to_bytes()).unwrap();
        let (_, pool) = read_bare(&bare).unwrap();
        assert_eq!(pool.dir(), d.path().join("pool"));
        fs::write(bare.join("config"), "[]").unwrap();
        let err = read_bare(&bare).unwrap_err().to_string();
        assert!(err.contains("must be a JSON object"), "{err}");
    }
}
