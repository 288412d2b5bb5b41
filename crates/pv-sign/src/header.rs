//! The JWS protected header of a pvs@2 signature.
//!
//! pvr (through go-jose) serializes the header as a Go map, so its members
//! come out sorted: `alg`, `jwk`, `pvs`, `typ`, `x5c`. The embedded `jwk`
//! keeps go-jose's member order (`kty`, `crv`, `x`, `y` / `kty`, `n`, `e`)
//! and `pvs` its struct order (`include`, `exclude`). Strings use Go's
//! escaping (`<>&` as `\u003c…`).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::encoding::{b64std, b64std_decode, b64url_decode, go_compact, write_go_string};
use crate::keys::{Alg, PublicKey};
use crate::rawjson::{go_compact_raw, object_members};

/// The `pvs` member: which state keys a signature covers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PvsMatch {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

impl PvsMatch {
    pub fn new<S: Into<String>>(
        include: impl IntoIterator<Item = S>,
        exclude: impl IntoIterator<Item = S>,
    ) -> Self {
        PvsMatch {
            include: include.into_iter().map(Into::into).collect(),
            exclude: exclude.into_iter().map(Into::into).collect(),
        }
    }

    fn to_json(&self) -> String {
        let list = |items: &[String]| {
            let mut s = String::from("[");
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                write_go_string(&mut s, it);
            }
            s.push(']');
            s
        };
        format!(
            r#"{{"include":{},"exclude":{}}}"#,
            list(&self.include),
            list(&self.exclude)
        )
    }
}

/// Build the protected header JSON text exactly as pvr writes it.
pub fn build(alg: Alg, key: &PublicKey, pvs: &PvsMatch, x5c: &[Vec<u8>]) -> String {
    let mut out = format!(
        r#"{{"alg":"{}","jwk":{},"pvs":{},"typ":"PVS""#,
        alg.as_str(),
        key.jwk_json(),
        pvs.to_json()
    );
    if !x5c.is_empty() {
        out.push_str(r#","x5c":["#);
        for (i, der) in x5c.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('"');
            out.push_str(&b64std(der));
            out.push('"');
        }
        out.push(']');
    }
    out.push('}');
    out
}

/// A decoded protected header.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// The decoded header bytes.
    pub json: Vec<u8>,
    /// All members.
    pub members: Map<String, Value>,
    pub alg: Option<String>,
    /// `pvs.include`; `None` when missing or `null`.
    pub include: Option<Vec<String>>,
    /// `pvs.exclude`; `None` when missing or `null`.
    pub exclude: Option<Vec<String>>,
    /// True if the header has a `pvs` object at all.
    pub has_pvs: bool,
    /// `x5c` certificates (DER), leaf first; empty when absent.
    pub x5c: Vec<Vec<u8>>,
}

impl Header {
    /// Decode a base64url `protected` value.
    pub fn decode(protected_b64: &str) -> Result<Header, String> {
        let json = b64url_decode(protected_b64).ok_or("protected header is not base64url")?;
        let members = match pv_json::parse(&json) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err("protected header is not a JSON object".into()),
            Err(e) => return Err(format!("protected header is not JSON: {e}")),
        };
        let alg = members
            .get("alg")
            .and_then(Value::as_str)
            .map(str::to_string);
        let pvs = members.get("pvs").and_then(Value::as_object);
        let list = |name: &str| -> Result<Option<Vec<String>>, String> {
            match pvs.and_then(|p| p.get(name)) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .map(Some)
                    .ok_or_else(|| format!("pvs.{name} must be a list of strings")),
                Some(_) => Err(format!("pvs.{name} must be a list of strings")),
            }
        };
        let include = list("include")?;
        let exclude = list("exclude")?;
        let x5c = match members.get("x5c") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().and_then(b64std_decode))
                .collect::<Option<Vec<_>>>()
                .ok_or("x5c must be a list of base64 certificates")?,
            Some(_) => return Err("x5c must be a list of base64 certificates".into()),
        };
        Ok(Header {
            json,
            has_pvs: pvs.is_some(),
            members,
            alg,
            include,
            exclude,
            x5c,
        })
    }

    /// The pvs rules, with missing lists read as empty.
    pub fn pvs(&self) -> PvsMatch {
        PvsMatch {
            include: self.include.clone().unwrap_or_default(),
            exclude: self.exclude.clone().unwrap_or_default(),
        }
    }

    /// The header as go-jose re-serializes it: top-level members sorted,
    /// each value's own text compacted with Go escaping (nested member
    /// order is kept).
    pub fn reserialized(&self) -> String {
        let text = String::from_utf8_lossy(&self.json);
        let Ok(members) = object_members(&text) else {
            return go_compact(&Value::Object(self.members.clone()));
        };
        let sorted: BTreeMap<String, String> = members
            .into_iter()
            .map(|m| (m.key, go_compact_raw(m.value)))
            .collect();
        let mut out = String::from("{");
        for (i, (k, v)) in sorted.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_go_string(&mut out, k);
            out.push(':');
            out.push_str(v);
        }
        out.push('}');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::b64url;

    #[test]
    fn reserialization_sorts_top_level_only() {
        let text = r#"{"typ":"PVS", "pvs":{"include":["<x>"],"exclude":[]},"alg":"RS256","jwk":{"kty":"RSA","n":"AQ","e":"AQAB"}}"#;
        let h = Header::decode(&b64url(text.as_bytes())).unwrap();
        assert_eq!(
            h.reserialized(),
            r#"{"alg":"RS256","jwk":{"kty":"RSA","n":"AQ","e":"AQAB"},"pvs":{"include":["\u003cx\u003e"],"exclude":[]},"typ":"PVS"}"#
        );
        assert_eq!(h.include.as_deref(), Some(&["<x>".to_string()][..]));
        assert_eq!(h.exclude.as_deref(), Some(&[][..]));
        assert!(Header::decode(&b64url(br#"{"pvs":{"include":[1]}}"#)).is_err());
        assert!(Header::decode("!!").is_err());
    }

    #[test]
    fn build_escapes_like_go() {
        let key =
            crate::keys::PrivateKey::from_pem(include_bytes!("../tests/data/es384.key.pem"), "k")
                .unwrap()
                .public_key();
        let h = build(Alg::ES384, &key, &PvsMatch::new(["a&b"], []), &[vec![1, 2]]);
        assert!(h.contains(
            r#""pvs":{"include":["a\u0026b"],"exclude":[]},"typ":"PVS","x5c":["AQI="]}"#
        ));
    }
}
