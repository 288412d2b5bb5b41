//! `<app>/src.json` (`service-manifest-src@1`): the app recipe.
//!
//! Written like the original: members in the order of pvr's `Source`
//! struct, empty members left out (`omitempty`), Go `MarshalIndent` with
//! prefix `" "` and indent `" "`, no trailing newline. Keys this crate does
//! not know are kept (after the known ones) instead of being dropped.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{AppError, Result};
use crate::go_json::{marshal_indent, marshal_ordered, Ordered};

pub const SRC_FILE: &str = "src.json";
pub const SRC_SPEC: &str = "service-manifest-src@1";
pub const TEMPLATE_BUILTIN: &str = "builtin-lxc-docker";

/// The members of pvr's `Source` struct, in its order.
const FIELD_ORDER: &[&str] = &[
    "base",
    "name",
    "#spec",
    "template",
    "args",
    "dm_enabled",
    "logs",
    "exports",
    "config",
    "docker_name",
    "docker_tag",
    "docker_digest",
    "docker_ovl_digest",
    "docker_source",
    "docker_config",
    "docker_platform",
    "format_options",
    "pvr",
    "pvr_digest",
    "rootfs_url",
    "rootfs_digest",
    "persistence",
];

/// An app recipe. Kept as a JSON object so nothing is lost; typed
/// accessors for the members this crate uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    map: Map<String, Value>,
}

impl Default for Source {
    fn default() -> Self {
        Self::new()
    }
}

impl Source {
    /// A new recipe for the built-in template.
    pub fn new() -> Self {
        let mut map = Map::new();
        map.insert("#spec".into(), SRC_SPEC.into());
        map.insert("template".into(), TEMPLATE_BUILTIN.into());
        Source { map }
    }

    /// Parse src.json text.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        let v = pv_json::parse(bytes).map_err(|e| AppError::BadSrcJson {
            path: path.to_path_buf(),
            msg: e.to_string(),
        })?;
        let Value::Object(map) = v else {
            return Err(AppError::BadSrcJson {
                path: path.to_path_buf(),
                msg: "not a JSON object".into(),
            });
        };
        let src = Source { map };
        for key in [
            "template",
            "docker_name",
            "docker_tag",
            "docker_digest",
            "docker_ovl_digest",
            "docker_source",
            "docker_platform",
            "format_options",
            "rootfs_url",
            "rootfs_digest",
            "base",
        ] {
            if !matches!(
                src.map.get(key),
                None | Some(Value::String(_)) | Some(Value::Null)
            ) {
                return Err(AppError::BadSrcJson {
                    path: path.to_path_buf(),
                    msg: format!("{key} must be a string"),
                });
            }
        }
        for key in [
            "args",
            "config",
            "docker_config",
            "persistence",
            "dm_enabled",
        ] {
            if !matches!(
                src.map.get(key),
                None | Some(Value::Object(_)) | Some(Value::Null)
            ) {
                return Err(AppError::BadSrcJson {
                    path: path.to_path_buf(),
                    msg: format!("{key} must be an object"),
                });
            }
        }
        Ok(src)
    }

    /// Read `<app_dir>/src.json`.
    pub fn read(app_dir: &Path) -> Result<Self> {
        let path = app_dir.join(SRC_FILE);
        let bytes = std::fs::read(&path).map_err(|e| pv_fs::FsError::new("read", &path, e))?;
        Self::parse(&path, &bytes)
    }

    /// The bytes the original writes.
    pub fn to_go_bytes(&self) -> Vec<u8> {
        let mut members: Vec<(&str, &Value)> = FIELD_ORDER
            .iter()
            .filter_map(|k| self.map.get_key_value(*k))
            .filter(|(k, v)| *k == "#spec" || !is_go_empty(v))
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        members.extend(
            self.map
                .iter()
                .filter(|(k, _)| !FIELD_ORDER.contains(&k.as_str()))
                .map(|(k, v)| (k.as_str(), v)),
        );
        marshal_ordered(&Ordered { members }, " ", " ").into_bytes()
    }

    /// The whole recipe as a JSON object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.map
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        self.map
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    pub fn set_str(&mut self, key: &str, value: Option<&str>) {
        match value.filter(|s| !s.is_empty()) {
            Some(v) => self.map.insert(key.into(), Value::String(v.into())),
            None => self.map.remove(key),
        };
    }

    pub fn object(&self, key: &str) -> Option<&Map<String, Value>> {
        self.map.get(key).and_then(Value::as_object)
    }

    pub fn set_object(&mut self, key: &str, value: Map<String, Value>) {
        self.map.insert(key.into(), Value::Object(value));
    }

    pub fn remove(&mut self, key: &str) {
        self.map.remove(key);
    }

    /// Template arguments (`args`).
    pub fn args(&self) -> Map<String, Value> {
        self.object("args").cloned().unwrap_or_default()
    }

    /// `persistence` as path → value strings (non-strings skipped).
    pub fn persistence(&self) -> Vec<(String, String)> {
        self.object("persistence")
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The app's image reference for re-resolution: `docker_name[:docker_tag]`.
    pub fn track_ref(&self) -> Option<String> {
        let name = self.str("docker_name")?;
        Some(match self.str("docker_tag") {
            Some(tag) => format!("{name}:{tag}"),
            None => name.to_string(),
        })
    }
}

/// Go's `omitempty` for the value kinds in `Source`.
fn is_go_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::Number(_) => false,
    }
}

/// `pvr app info`: the recipe re-indented with 4 spaces (sorted keys).
pub fn info_text(src: &Source) -> String {
    marshal_indent(&Value::Object(src.map.clone()), "", "    ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_struct_order_and_omits_empty() {
        let mut s = Source::new();
        s.set_object("args", Map::new());
        s.set_str("docker_name", Some("nginx"));
        s.set_str("docker_tag", Some("latest"));
        s.set_str("docker_source", Some("remote,local"));
        let mut p = Map::new();
        p.insert("/data".into(), "permanent".into());
        s.set_object("persistence", p);
        s.map.insert("pv_build_origin".into(), "yocto".into());
        let text = String::from_utf8(s.to_go_bytes()).unwrap();
        assert_eq!(
            text,
            "{\n  \"#spec\": \"service-manifest-src@1\",\n  \"template\": \"builtin-lxc-docker\",\n  \"docker_name\": \"nginx\",\n  \"docker_tag\": \"latest\",\n  \"docker_source\": \"remote,local\",\n  \"persistence\": {\n   \"/data\": \"permanent\"\n  },\n  \"pv_build_origin\": \"yocto\"\n }"
        );
        let back = Source::parse(Path::new("src.json"), text.as_bytes()).unwrap();
        assert_eq!(back.str("docker_tag"), Some("latest"));
        assert_eq!(back.track_ref().unwrap(), "nginx:latest");
    }

    #[test]
    fn rejects_wrong_member_types() {
        let e =
            Source::parse(Path::new("x/src.json"), br##"{"#spec":"s","args":[1]}"##).unwrap_err();
        assert!(
            e.to_string().contains("x/src.json: args must be an object"),
            "{e}"
        );
    }
}
