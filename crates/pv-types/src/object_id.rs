use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// The sha256 of an object's bytes; shown as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId([u8; 32]);

/// A string that is not a valid object id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an object id (64 lowercase hex digits)")]
pub struct ObjectIdError(pub String);

/// True if `s` has the shape of an object id: exactly 64 hex digits.
/// (pvr and the device accept either case when classifying values.)
pub fn is_sha(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl ObjectId {
    /// The id of `data`.
    pub fn of(data: &[u8]) -> Self {
        ObjectId(Sha256::digest(data).into())
    }

    /// Wrap a raw digest.
    pub fn from_bytes(b: [u8; 32]) -> Self {
        ObjectId(b)
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64-character lowercase hex form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The id of the empty object.
    pub fn empty() -> Self {
        Self::of(b"")
    }
}

impl FromStr for ObjectId {
    type Err = ObjectIdError;
    /// Parse a strict object id: 64 lowercase hex digits.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 64 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(ObjectIdError(s.to_string()));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| ObjectIdError(s.to_string()))?;
        Ok(ObjectId(out))
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        assert_eq!(
            ObjectId::empty().to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            ObjectId::of(b"hello\n").to_hex(),
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
        );
    }

    #[test]
    fn parse_is_strict() {
        let h = ObjectId::empty().to_hex();
        assert_eq!(h.parse::<ObjectId>().unwrap(), ObjectId::empty());
        assert!(h.to_uppercase().parse::<ObjectId>().is_err());
        assert!(h[1..].parse::<ObjectId>().is_err());
        assert!(is_sha(&h.to_uppercase()));
        assert!(!is_sha("xyz"));
    }
}
