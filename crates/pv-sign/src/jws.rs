//! The pvs@2 signature file: a flattened JWS JSON serialization with a
//! detached payload and a `#spec` marker, stored as canonical JSON.

use serde_json::{Map, Value};

use crate::encoding::{b64url, b64url_decode};
use crate::error::ErrorKind;
use crate::header::Header;

/// The `#spec` of signature files.
pub const PVS_SPEC: &str = "pvs@2";

/// True if a state value is a pvs@2 signature object.
pub fn is_pvs2(v: &Value) -> bool {
    v.get("#spec").and_then(Value::as_str) == Some(PVS_SPEC)
}

/// A parsed signature file.
#[derive(Debug, Clone, PartialEq)]
pub struct SigFile {
    /// The `protected` member as stored (base64url header).
    pub protected: String,
    /// The `signature` member as stored (base64url).
    pub signature: String,
    /// An embedded payload (base64url), present with `--with-payload`.
    pub payload: Option<String>,
    /// The decoded protected header.
    pub header: Header,
}

impl SigFile {
    /// Parse signature file bytes, checking `#spec` first as pvr does.
    pub fn parse(bytes: &[u8], path: &str) -> Result<SigFile, ErrorKind> {
        let v = pv_json::parse(bytes).map_err(|e| ErrorKind::Malformed {
            path: path.into(),
            why: e.to_string(),
        })?;
        Self::from_value(&v, path)
    }

    /// Like [`SigFile::parse`] for an already parsed value.
    pub fn from_value(v: &Value, path: &str) -> Result<SigFile, ErrorKind> {
        let malformed = |why: &str| ErrorKind::Malformed {
            path: path.into(),
            why: why.into(),
        };
        let obj = v
            .as_object()
            .ok_or_else(|| malformed("not a JSON object"))?;
        match obj.get("#spec") {
            None => return Err(ErrorKind::NoSpec),
            Some(s) if s.as_str() != Some(PVS_SPEC) => return Err(ErrorKind::WrongSpec),
            Some(_) => {}
        }
        Self::from_jws_members(obj, path)
    }

    /// Parse the JWS members without looking at `#spec` (what `sig update`
    /// does with the existing file).
    pub fn from_jws_members(obj: &Map<String, Value>, path: &str) -> Result<SigFile, ErrorKind> {
        let malformed = |why: String| ErrorKind::Malformed {
            path: path.into(),
            why,
        };
        let member = |name: &str| -> Result<Option<String>, ErrorKind> {
            match obj.get(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(malformed(format!("{name} must be a string"))),
            }
        };
        let protected =
            member("protected")?.ok_or_else(|| malformed("no protected header".into()))?;
        let signature = member("signature")?.ok_or_else(|| malformed("no signature".into()))?;
        let payload = member("payload")?;
        if b64url_decode(&signature).is_none() {
            return Err(malformed("signature is not base64url".into()));
        }
        let header = Header::decode(&protected).map_err(malformed)?;
        Ok(SigFile {
            protected,
            signature,
            payload,
            header,
        })
    }

    /// The JWS signing input for a detached `payload`.
    pub fn signing_input(&self, payload: &[u8]) -> Vec<u8> {
        signing_input(&self.protected, payload)
    }

    /// The decoded signature bytes.
    pub fn signature_bytes(&self) -> Vec<u8> {
        b64url_decode(&self.signature).unwrap_or_default()
    }
}

/// `protected "." base64url(payload)`.
pub fn signing_input(protected_b64: &str, payload: &[u8]) -> Vec<u8> {
    let mut input = protected_b64.as_bytes().to_vec();
    input.push(b'.');
    input.extend_from_slice(b64url(payload).as_bytes());
    input
}

/// Canonical bytes of a signature file.
pub fn file_bytes(protected_b64: &str, signature: &[u8], payload: Option<&[u8]>) -> Vec<u8> {
    let mut m = Map::new();
    m.insert("#spec".into(), Value::String(PVS_SPEC.into()));
    m.insert("protected".into(), Value::String(protected_b64.into()));
    m.insert("signature".into(), Value::String(b64url(signature)));
    if let Some(p) = payload {
        m.insert("payload".into(), Value::String(b64url(p)));
    }
    pv_json::to_canonical(&Value::Object(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_is_checked_first() {
        let no_spec = SigFile::parse(br#"{"protected":"e30","signature":"AA"}"#, "p").unwrap_err();
        assert_eq!(
            no_spec.to_string(),
            "ERROR: pvs signature does not have a #spec element"
        );
        let wrong = SigFile::parse(br##"{"#spec":"pvs@1"}"##, "p").unwrap_err();
        assert_eq!(
            wrong.to_string(),
            "ERROR: pvs signature must be of #spec pvs@2"
        );
        let wrong = SigFile::parse(br##"{"#spec":2}"##, "p").unwrap_err();
        assert_eq!(wrong, ErrorKind::WrongSpec);
        let no_sig = SigFile::parse(br##"{"#spec":"pvs@2","protected":"e30"}"##, "_sigs/p.json");
        assert_eq!(
            no_sig.unwrap_err().to_string(),
            "malformed pvs signature _sigs/p.json: no signature"
        );
        let ok = SigFile::parse(
            br##"{"#spec":"pvs@2","protected":"e30","signature":"AA"}"##,
            "p",
        );
        assert!(ok.unwrap().header.members.is_empty());
    }

    #[test]
    fn file_bytes_are_canonical() {
        let b = file_bytes("e30", &[0xfb, 0xff], None);
        assert_eq!(
            b,
            br##"{"#spec":"pvs@2","protected":"e30","signature":"-_8"}"##
        );
    }
}
