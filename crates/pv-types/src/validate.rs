//! Validation of a state before anything trusts it.

use std::fmt;

use serde_json::Value;

use crate::manifest::{self, BspRunJson, DeviceJson, RunJson, VolumeRef};
use crate::{State, SPEC_MULTI_PLATFORM, SPEC_SERVICE_SYSTEM};

/// One problem found in a state.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Invalid {
    #[error("state has no \"#spec\"")]
    MissingSpec,
    #[error("\"#spec\" must be a string")]
    SpecNotString,
    #[error("unknown \"#spec\" {0:?}")]
    UnknownSpec(String),
    #[error("invalid key {key:?}: {reason}")]
    BadKey {
        key: String,
        reason: pv_fs::PathError,
    },
    #[error("invalid key {0:?}: reserved for repository metadata")]
    ReservedKey(String),
    #[error("key {0:?}: value must be an object id (64 lowercase hex digits)")]
    BadObjectValue(String),
    #[error("key {key:?}: {error}")]
    Manifest { key: String, error: String },
    #[error("key {key:?}: {field} names {path:?}, which is not in the state")]
    MissingPart {
        key: String,
        field: String,
        path: String,
    },
}

/// Every problem found in a state, in key order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ValidationReport(pub Vec<Invalid>);

impl fmt::Display for ValidationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationReport {}

impl State {
    /// Check keys, value shapes and `#spec`: what every tool needs before it
    /// writes any key of this state to disk.
    pub fn validate_structure(&self) -> Result<(), ValidationReport> {
        let mut errs = vec![];
        self.structure_problems(&mut errs);
        finish(errs)
    }

    /// Full validation: structure, typed manifests, and coherence of each
    /// container and of the BSP (every file a manifest names is present).
    pub fn validate(&self) -> Result<(), ValidationReport> {
        let mut errs = vec![];
        self.structure_problems(&mut errs);
        self.manifest_problems(&mut errs);
        finish(errs)
    }

    fn structure_problems(&self, errs: &mut Vec<Invalid>) {
        match self.get("#spec") {
            None => errs.push(Invalid::MissingSpec),
            Some(Value::String(_)) => {}
            Some(_) => errs.push(Invalid::SpecNotString),
        }
        for (k, v) in self.iter() {
            if k == "#spec" {
                continue;
            }
            if let Err(reason) = pv_fs::validate_rel_path(k) {
                errs.push(Invalid::BadKey {
                    key: k.clone(),
                    reason,
                });
                continue;
            }
            let first = k.split('/').next().unwrap_or("");
            if first == ".pvr" || first == ".pv" {
                errs.push(Invalid::ReservedKey(k.clone()));
                continue;
            }
            if State::is_inline_json(k, v) {
                continue;
            }
            let ok = v
                .as_str()
                .is_some_and(|s| s.parse::<crate::ObjectId>().is_ok());
            if !ok {
                errs.push(Invalid::BadObjectValue(k.clone()));
            }
        }
    }

    fn manifest_problems(&self, errs: &mut Vec<Invalid>) {
        match self.spec() {
            Some(SPEC_SERVICE_SYSTEM) => {}
            Some(SPEC_MULTI_PLATFORM) => return,
            Some(other) => {
                errs.push(Invalid::UnknownSpec(other.to_string()));
                return;
            }
            None => return,
        }
        let need = |errs: &mut Vec<Invalid>, key: &str, field: &str, path: String| {
            if !self.contains_key(&path) {
                errs.push(Invalid::MissingPart {
                    key: key.to_string(),
                    field: field.to_string(),
                    path,
                });
            }
        };
        for (k, v) in self.iter() {
            if k == "bsp/run.json" {
                match typed::<BspRunJson>(k, v, errs) {
                    Some(bsp) => {
                        for f in bsp.referenced_files() {
                            need(errs, k, "file", format!("bsp/{f}"));
                        }
                    }
                    None => continue,
                }
            } else if k == "device.json" {
                typed::<DeviceJson>(k, v, errs);
            } else if let Some(dir) = k.strip_suffix("/run.json") {
                let Some(run) = typed::<RunJson>(k, v, errs) else {
                    continue;
                };
                if let Some(cfg) = &run.config {
                    need(errs, k, "config", format!("{dir}/{cfg}"));
                }
                for VolumeRef { path, .. } in run.volume_files() {
                    need(errs, k, "volume", format!("{dir}/{path}"));
                }
            }
        }
    }
}

fn typed<T: serde::de::DeserializeOwned>(
    key: &str,
    v: &Value,
    errs: &mut Vec<Invalid>,
) -> Option<T> {
    if !v.is_object() {
        errs.push(Invalid::Manifest {
            key: key.to_string(),
            error: "must be a JSON object".into(),
        });
        return None;
    }
    match manifest::parse::<T>(v) {
        Ok(t) => Some(t),
        Err(e) => {
            errs.push(Invalid::Manifest {
                key: key.to_string(),
                error: e.to_string(),
            });
            None
        }
    }
}

fn finish(errs: Vec<Invalid>) -> Result<(), ValidationReport> {
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ValidationReport(errs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ObjectId;

    fn state(json: &str) -> State {
        State::from_slice(json.replace("SHA", &ObjectId::of(b"x").to_hex()).as_bytes()).unwrap()
    }

    #[test]
    fn good_state_passes() {
        let s = state(
            r##"{"#spec":"pantavisor-service-system@1",
            "bsp/run.json":{"linux":"kernel.img","initrd":"pantavisor","modules":"dm:modules.squashfs"},
            "bsp/kernel.img":"SHA","bsp/pantavisor":"SHA","bsp/modules.squashfs":"SHA",
            "app/run.json":{"#spec":"service-manifest-run@1","config":"lxc.container.conf","root-volume":"root.squashfs","volumes":[]},
            "app/lxc.container.conf":"SHA","app/root.squashfs":"SHA","raw.json":"SHA"}"##,
        );
        s.validate().unwrap();
    }

    #[test]
    fn bad_keys_and_values_are_named() {
        let s = state(
            r##"{"#spec":"pantavisor-service-system@1","../x":"SHA","/abs":"SHA","a//b":"SHA",
            ".pvr/json":"SHA","obj":"not-a-sha","up":"ABCDEF"}"##,
        );
        let e = s.validate_structure().unwrap_err();
        let text = e.to_string();
        for needle in [
            "\"../x\"",
            "\"/abs\"",
            "\"a//b\"",
            "\".pvr/json\"",
            "\"obj\"",
            "\"up\"",
        ] {
            assert!(text.contains(needle), "{needle} missing in {text}");
        }
        assert_eq!(e.0.len(), 6);
    }

    #[test]
    fn incoherent_container_is_reported() {
        let s = state(
            r##"{"#spec":"pantavisor-service-system@1",
            "app/run.json":{"config":"lxc.container.conf","root-volume":"dm:root.squashfs","volumes":["extra.squashfs"]},
            "app/root.squashfs":"SHA"}"##,
        );
        let e = s.validate().unwrap_err();
        assert_eq!(e.0.len(), 2, "{e}");
        assert!(e.to_string().contains("app/lxc.container.conf"));
        assert!(e.to_string().contains("app/extra.squashfs"));
    }

    #[test]
    fn wrong_manifest_types_are_reported() {
        let s = state(
            r##"{"#spec":"pantavisor-service-system@1","app/run.json":{"volumes":"nope"},"x/run.json":[1]}"##,
        );
        let e = s.validate().unwrap_err();
        assert_eq!(e.0.len(), 2, "{e}");
    }

    #[test]
    fn missing_spec_is_reported() {
        let s = state(r#"{"a":"SHA"}"#);
        assert_eq!(s.validate().unwrap_err().0, vec![Invalid::MissingSpec]);
    }
}
