//! Typed views of the well-known files of a state.
//!
//! Each struct keeps the keys it does not know in `extra`, so reading and
//! writing a manifest never drops anything. Numbers that the runtime needs
//! are exposed through accessors, because the state keeps exact literals.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `<container>/run.json` (`service-manifest-run@1`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunJson {
    #[serde(rename = "#spec", default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    #[serde(
        rename = "root-volume",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub root_volume: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runlevel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_goal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<String>,
    /// An array of role names (`mgmt`, `nobody`); older states use an object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drivers: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exports: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_recovery: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl RunJson {
    /// Role names, whichever form the state uses.
    pub fn role_names(&self) -> Vec<String> {
        match &self.roles {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            Some(Value::Object(m)) => m.keys().cloned().collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => vec![],
        }
    }

    /// The volume files this container needs (root volume and extra
    /// volumes), without handler prefixes.
    pub fn volume_files(&self) -> Vec<VolumeRef> {
        let mut v: Vec<VolumeRef> = self
            .root_volume
            .iter()
            .map(|s| VolumeRef::parse(s))
            .collect();
        v.extend(self.volumes.iter().flatten().map(|s| VolumeRef::parse(s)));
        v
    }
}

/// A volume string `[<handler>:]<path>`, e.g. `dm:root.squashfs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeRef {
    pub handler: Option<String>,
    pub path: String,
}

impl VolumeRef {
    pub fn parse(s: &str) -> Self {
        match s.split_once(':') {
            Some((h, p)) if !h.contains('/') => VolumeRef {
                handler: Some(h.to_string()),
                path: p.to_string(),
            },
            _ => VolumeRef {
                handler: None,
                path: s.to_string(),
            },
        }
    }
}

/// One entry of a `storage` object: `{"persistence": …, "disk": …}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StorageEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `bsp/run.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BspRunJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linux: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initrd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fdt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpiab: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modules: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addons: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initrd_config: Option<String>,
    /// Kernel command line words this revision boots with, after
    /// `pv_rev=<rev>` (our addition, see docs/compat.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmdline: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl BspRunJson {
    /// The hard links a bootloader reads in `<trail>/.pv/`, as (link name,
    /// file under `bsp/`): a FIT image alone, or the kernel (`linux`, else
    /// the older key `kernel`, else `kernel.img`), the initrd (`initrd`,
    /// else `pantavisor`) and the fdt when there is one.
    pub fn boot_links(&self) -> Vec<(&'static str, String)> {
        if let Some(fit) = &self.fit {
            return vec![("pantavisor.fit", fit.clone())];
        }
        let kernel = self.linux.clone().or_else(|| {
            self.extra
                .get("kernel")
                .and_then(|k| k.as_str())
                .map(String::from)
        });
        let mut links = vec![
            (
                "pv-kernel.img",
                kernel.unwrap_or_else(|| "kernel.img".into()),
            ),
            (
                "pv-initrd.img",
                self.initrd.clone().unwrap_or_else(|| "pantavisor".into()),
            ),
        ];
        if let Some(fdt) = &self.fdt {
            links.push(("pv-fdt.dtb", fdt.clone()));
        }
        links
    }

    /// Files under `bsp/` that this manifest names (handler prefixes removed).
    pub fn referenced_files(&self) -> Vec<String> {
        let mut out = vec![];
        for f in [
            &self.linux,
            &self.initrd,
            &self.fdt,
            &self.fit,
            &self.rpiab,
            &self.firmware,
            &self.initrd_config,
        ]
        .into_iter()
        .flatten()
        {
            out.push(VolumeRef::parse(f).path);
        }
        if let Some(m) = &self.modules {
            out.push(VolumeRef::parse(m).path);
        }
        out.extend(self.addons.iter().flatten().cloned());
        out
    }
}

/// A group of `device.json` or `groups.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_goal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_recovery: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Group {
    /// The goal timeout in seconds, if it is a non-negative integer.
    pub fn timeout_secs(&self) -> Option<u64> {
        self.timeout.as_ref().and_then(value_as_u64)
    }
}

/// `device.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<Group>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disks: Option<Vec<Map<String, Value>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `<container>/src.json` (`service-manifest-src@1`), pvr's app recipe.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SrcJson {
    #[serde(rename = "#spec")]
    pub spec: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_platform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_config: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_options: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs_digest: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A `pvs@2` signature file (`_sigs/<name>.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PvsSignature {
    #[serde(rename = "#spec")]
    pub spec: String,
    pub protected: String,
    pub signature: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An integer value as u64, accepting integral literals like `30` or `3e1`.
pub fn value_as_u64(v: &Value) -> Option<u64> {
    let n = v.as_number()?;
    pv_json::canonical_number(n.as_str()).parse().ok()
}

/// Read a typed manifest from a state value.
pub fn parse<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, serde_json::Error> {
    serde_json::from_value(v.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_json_roundtrips_unknown_keys() {
        let src = r##"{"#spec":"service-manifest-run@1","name":"a","type":"lxc","root-volume":"dm:root.squashfs","volumes":["x.squashfs"],"roles":["mgmt"],"storage":{"lxc-overlay":{"persistence":"boot"}},"future":{"n":1.5},"auto_recovery":{"max_retries":3}}"##;
        let v: Value = pv_json::parse(src.as_bytes()).unwrap();
        let r: RunJson = parse(&v).unwrap();
        assert_eq!(r.role_names(), ["mgmt"]);
        assert_eq!(
            r.volume_files()[0],
            VolumeRef {
                handler: Some("dm".into()),
                path: "root.squashfs".into()
            }
        );
        let back = serde_json::to_value(&r).unwrap();
        assert!(pv_json::values_equal(&back, &v), "{back}");
    }

    #[test]
    fn group_timeout_is_read_exactly() {
        let v = pv_json::parse(br#"{"name":"app","timeout":30,"x":1e2}"#).unwrap();
        let g: Group = parse(&v).unwrap();
        assert_eq!(g.timeout_secs(), Some(30));
        assert!(pv_json::values_equal(
            &serde_json::to_value(&g).unwrap(),
            &v
        ));
    }

    #[test]
    fn wrong_types_are_reported() {
        let v = pv_json::parse(br#"{"name":7}"#).unwrap();
        let e = parse::<RunJson>(&v).unwrap_err();
        assert!(e.to_string().contains("invalid type"), "{e}");
    }
}
