//! Who may talk to the LAN endpoint: a bearer token from the device's
//! configuration, and URLs signed with it for object transfers.
//!
//! `pvr` sends `Authorization: Bearer <token>` on every call to the
//! remote's own URLs (the token comes from its `-a` flag or `PVR_AUTH`), but
//! fetches and uploads object bytes through `signed-geturl` /
//! `signed-puturl` without any header. Those URLs carry their own proof:
//! `expires=<unix seconds>&signature=<hex HMAC-SHA256(token, "<METHOD>\n<sha>\n<expires>")>`,
//! valid for one method on one object until they expire.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// How long a signed object URL stays valid.
pub const SIGNED_URL_LIFETIME_SECS: u64 = 3600;

/// The shared secret of one device.
#[derive(Clone)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

impl Token {
    /// A token must be long enough not to be guessed over the network.
    pub const MIN_LEN: usize = 16;

    pub fn new(secret: &str) -> Result<Token, String> {
        let s = secret.trim();
        if s.len() < Self::MIN_LEN {
            return Err(format!(
                "the LAN token must have at least {} characters",
                Self::MIN_LEN
            ));
        }
        if s.chars().any(|c| c.is_control() || c == ' ') {
            return Err("the LAN token must not contain spaces or control characters".into());
        }
        Ok(Token(s.to_string()))
    }

    /// A random secret (for signing object URLs of an open endpoint).
    pub fn random() -> Token {
        let mut b = [0u8; 32];
        rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty())
            .expect("random bytes");
        Token(hex::encode(b))
    }

    /// The secret itself (the answer of the login endpoint).
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// Does this `Authorization` header value carry the token?
    /// `Bearer` and `JWT` schemes are accepted (pvr uses `Bearer`).
    pub fn accepts_header(&self, value: Option<&str>) -> bool {
        let Some(v) = value else { return false };
        let given = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
            .or_else(|| v.strip_prefix("JWT "))
            .unwrap_or("")
            .trim();
        self.accepts_secret(given)
    }

    /// Compare a presented secret without leaking where it differs.
    pub fn accepts_secret(&self, given: &str) -> bool {
        let a = Sha256::digest(given.as_bytes());
        let b = Sha256::digest(self.0.as_bytes());
        a.iter()
            .zip(b.iter())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
    }

    fn mac(&self, method: &str, sha: &str, expires: u64) -> HmacSha256 {
        let mut m = HmacSha256::new_from_slice(self.0.as_bytes()).expect("any key length");
        m.update(method.as_bytes());
        m.update(b"\n");
        m.update(sha.as_bytes());
        m.update(b"\n");
        m.update(expires.to_string().as_bytes());
        m
    }

    /// The query string of a signed URL for `method` on object `sha`.
    pub fn sign(&self, method: &str, sha: &str, now: u64) -> String {
        let expires = now + SIGNED_URL_LIFETIME_SECS;
        let sig = hex::encode(self.mac(method, sha, expires).finalize().into_bytes());
        format!("expires={expires}&signature={sig}")
    }

    /// Check the query string of a signed URL.
    pub fn verify(&self, method: &str, sha: &str, query: &str, now: u64) -> bool {
        let mut expires = None;
        let mut sig = None;
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("expires", v)) => expires = v.parse::<u64>().ok(),
                Some(("signature", v)) => sig = hex::decode(v).ok(),
                _ => {}
            }
        }
        let (Some(expires), Some(sig)) = (expires, sig) else {
            return false;
        };
        expires >= now && self.mac(method, sha, expires).verify_slice(&sig).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn header_and_secret() {
        let t = Token::new("0123456789abcdef-secret").unwrap();
        assert!(t.accepts_header(Some("Bearer 0123456789abcdef-secret")));
        assert!(t.accepts_header(Some("JWT 0123456789abcdef-secret")));
        assert!(!t.accepts_header(Some("Bearer 0123456789abcdef-secreT")));
        assert!(!t.accepts_header(Some("0123456789abcdef-secret")));
        assert!(!t.accepts_header(None));
        assert!(Token::new("short").is_err());
        assert!(Token::new("has a space in the middle").is_err());
    }

    #[test]
    fn signed_urls_bind_method_object_and_time() {
        let t = Token::new("0123456789abcdef-secret").unwrap();
        let q = t.sign("GET", SHA, 1000);
        assert!(t.verify("GET", SHA, &q, 1000));
        assert!(t.verify("GET", SHA, &q, 1000 + SIGNED_URL_LIFETIME_SECS));
        assert!(!t.verify("GET", SHA, &q, 1001 + SIGNED_URL_LIFETIME_SECS));
        assert!(!t.verify("PUT", SHA, &q, 1000));
        let other = SHA.replace('e', "f");
        assert!(!t.verify("GET", &other, &q, 1000));
        let forged = q.replace("expires=4600", "expires=9999");
        assert!(!t.verify("GET", SHA, &forged, 1000));
        let t2 = Token::new("another-secret-of-16").unwrap();
        assert!(!t2.verify("GET", SHA, &q, 1000));
        assert!(!t.verify("GET", SHA, "", 1000));
    }
}
