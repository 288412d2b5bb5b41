//! `.pvr/config` and the global pvr config directory.

use std::path::{Path, PathBuf};

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

/// The global config directory: `$PVR_CONFIG_DIR`, else `~/.pvr`.
pub fn default_config_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("PVR_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"));
    home.join(".pvr")
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
}
