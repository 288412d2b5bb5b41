//! The signed payload: the committed-state entries a signature selects.
//!
//! A key is *protected* (selected) if some include pattern matches it and
//! no exclude pattern does; *excluded* if some exclude pattern matches it
//! (whether or not an include does); *not seen* otherwise. The payload is
//! the canonical JSON of the protected entries.

use serde_json::{Map, Value};

use pv_types::State;

use crate::error::ErrorKind;
use crate::glob::compile;
use crate::header::PvsMatch;

/// How a signature's rules split a state's keys.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Selection {
    /// The protected entries, keys sorted.
    pub selected: Map<String, Value>,
    /// Keys matching an exclude pattern, sorted.
    pub excluded: Vec<String>,
    /// Keys matching no pattern, sorted.
    pub notseen: Vec<String>,
}

impl Selection {
    /// Canonical JSON of the protected entries: the JWS payload.
    pub fn payload(&self) -> Vec<u8> {
        pv_json::to_canonical(&Value::Object(self.selected.clone()))
    }

    /// The protected keys, sorted.
    pub fn protected(&self) -> Vec<String> {
        self.selected.keys().cloned().collect()
    }
}

/// Split `state`'s keys by `pvs` (doublestar globs). A malformed pattern is
/// an error even if no key would reach its bad part.
pub fn select(state: &State, pvs: &PvsMatch) -> Result<Selection, ErrorKind> {
    let include = compile(&pvs.include)?;
    let exclude = compile(&pvs.exclude)?;
    let mut sel = Selection::default();
    for (k, v) in state.iter() {
        if exclude.iter().any(|g| g.matches(k)) {
            sel.excluded.push(k.clone());
        } else if include.iter().any(|g| g.matches(k)) {
            sel.selected.insert(k.clone(), v.clone());
        } else {
            sel.notseen.push(k.clone());
        }
    }
    Ok(sel)
}

/// The payload bytes for `pvs` over `state`.
pub fn payload(state: &State, pvs: &PvsMatch) -> Result<Vec<u8>, ErrorKind> {
    Ok(select(state, pvs)?.payload())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::b64url;

    const SHA_A: &str = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb";
    const SHA_B: &str = "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d";
    const SHA_C: &str = "2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6";

    /// Spec §9 item 30.
    #[test]
    fn spec_payload_vector() {
        let text = format!(
            r##"{{"#spec":"pantavisor-service-system@1","_config/app/etc/a.conf":"{SHA_A}","_sigs/app.json":{{"#spec":"pvs@2","protected":"x","signature":"y"}},"app/root.squashfs":"{SHA_B}","app/run.json":{{"#spec":"service-manifest-run@1","name":"app","type":"lxc"}},"app/src.json":{{"#spec":"service-manifest-src@1"}},"bsp/kernel.img":"{SHA_C}"}}"##
        );
        let state = State::from_slice(text.as_bytes()).unwrap();
        let pvs = PvsMatch::new(
            ["app/**", "_config/app/**"],
            ["app/src.json", "_sigs/app.json"],
        );
        let sel = select(&state, &pvs).unwrap();
        assert_eq!(
            sel.protected(),
            [
                "_config/app/etc/a.conf",
                "app/root.squashfs",
                "app/run.json"
            ]
        );
        assert_eq!(sel.excluded, ["_sigs/app.json", "app/src.json"]);
        assert_eq!(sel.notseen, ["#spec", "bsp/kernel.img"]);
        assert_eq!(
            b64url(&sel.payload()),
            "eyJfY29uZmlnL2FwcC9ldGMvYS5jb25mIjoiY2E5NzgxMTJjYTFiYmRjYWZhYzIzMWIzOWEyM2RjNGRhNzg2ZWZmODE0N2M0ZTcyYjk4MDc3ODVhZmVlNDhiYiIsImFwcC9yb290LnNxdWFzaGZzIjoiM2UyM2U4MTYwMDM5NTk0YTMzODk0ZjY1NjRlMWIxMzQ4YmJkN2EwMDg4ZDQyYzRhY2I3M2VlYWVkNTljMDA5ZCIsImFwcC9ydW4uanNvbiI6eyIjc3BlYyI6InNlcnZpY2UtbWFuaWZlc3QtcnVuQDEiLCJuYW1lIjoiYXBwIiwidHlwZSI6Imx4YyJ9fQ"
        );
    }

    #[test]
    fn exclude_wins_even_without_include() {
        let state =
            State::from_slice(br##"{"#spec":"x","a/src.json":{},"b/src.json":{}}"##).unwrap();
        let sel = select(&state, &PvsMatch::new(["a/**"], ["**/src.json"])).unwrap();
        assert!(sel.selected.is_empty());
        assert_eq!(sel.excluded, ["a/src.json", "b/src.json"]);
        assert_eq!(sel.payload(), b"{}");
        assert!(select(&state, &PvsMatch::new(["a["], [])).is_err());
    }
}
