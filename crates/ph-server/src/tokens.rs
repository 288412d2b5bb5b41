//! Token keys and claims: RS256 JWTs for users and devices, HS256 tokens
//! for signed object URLs, RS256 log cursors.
//!
//! Keys live in the data directory (`jwt-rsa.pem`, `object-secret`),
//! generated on first start and reused; several hub processes share them
//! through the same files (or copies).

use std::path::Path;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::RsaPrivateKey;
use serde::{Deserialize, Serialize};

/// The scope of every default token.
pub const SCOPE_ALL: &str = "prn:pantahub.com:apis:/base/all";
/// Prefix of short scope names.
pub const SCOPE_PREFIX: &str = "prn:pantahub.com:apis:/base/";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {msg}")]
    File { path: String, msg: String },
    #[error("signing keys: {0}")]
    Key(String),
}

/// The hub's signing keys.
#[derive(Clone)]
pub struct Keys {
    rsa_enc: EncodingKey,
    rsa_dec: DecodingKey,
    obj_enc: EncodingKey,
    obj_dec: DecodingKey,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

fn file_err(path: &Path, msg: impl ToString) -> KeyError {
    KeyError::File {
        path: path.display().to_string(),
        msg: msg.to_string(),
    }
}

impl Keys {
    /// Load the keys of `dir`, generating missing ones.
    pub fn load_or_create(dir: &Path) -> Result<Self, KeyError> {
        let rsa_path = dir.join("jwt-rsa.pem");
        let pem = match std::fs::read_to_string(&rsa_path) {
            Ok(p) => p,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = RsaPrivateKey::new(&mut rand::thread_rng(), 2048)
                    .map_err(|e| KeyError::Key(e.to_string()))?;
                let pem = key
                    .to_pkcs8_pem(LineEnding::LF)
                    .map_err(|e| KeyError::Key(e.to_string()))?
                    .to_string();
                write_secret(&rsa_path, pem.as_bytes())?;
                pem
            }
            Err(e) => return Err(file_err(&rsa_path, e)),
        };
        let key = RsaPrivateKey::from_pkcs8_pem(&pem).map_err(|e| file_err(&rsa_path, e))?;
        let pub_pem = key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| KeyError::Key(e.to_string()))?;
        let obj_path = dir.join("object-secret");
        let secret = match std::fs::read(&obj_path) {
            Ok(s) if s.len() >= 32 => s,
            Ok(_) => return Err(file_err(&obj_path, "shorter than 32 bytes")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut s = vec![0u8; 32];
                rand::thread_rng().fill_bytes(&mut s);
                write_secret(&obj_path, &s)?;
                s
            }
            Err(e) => return Err(file_err(&obj_path, e)),
        };
        Ok(Keys {
            rsa_enc: EncodingKey::from_rsa_pem(pem.as_bytes())
                .map_err(|e| file_err(&rsa_path, e))?,
            rsa_dec: DecodingKey::from_rsa_pem(pub_pem.as_bytes())
                .map_err(|e| KeyError::Key(e.to_string()))?,
            obj_enc: EncodingKey::from_secret(&secret),
            obj_dec: DecodingKey::from_secret(&secret),
        })
    }

    /// Sign API token claims (RS256).
    pub fn sign(&self, c: &Claims) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), c, &self.rsa_enc).unwrap_or_default()
    }

    /// Verify an API token: signature and expiry (no leeway).
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let mut v = Validation::new(Algorithm::RS256);
        v.leeway = 0;
        v.validate_aud = false;
        jsonwebtoken::decode::<Claims>(token, &self.rsa_dec, &v)
            .ok()
            .map(|d| d.claims)
    }

    /// Verify an API token's signature, ignoring expiry (refresh window).
    pub fn verify_ignoring_exp(&self, token: &str) -> Option<Claims> {
        let mut v = Validation::new(Algorithm::RS256);
        v.validate_exp = false;
        v.validate_aud = false;
        v.required_spec_claims.clear();
        jsonwebtoken::decode::<Claims>(token, &self.rsa_dec, &v)
            .ok()
            .map(|d| d.claims)
    }

    /// Sign an object URL token (HS256).
    pub fn sign_object(&self, c: &ObjectClaims) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), c, &self.obj_enc).unwrap_or_default()
    }

    pub fn verify_object(&self, token: &str) -> Option<ObjectClaims> {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 0;
        v.validate_aud = false;
        jsonwebtoken::decode::<ObjectClaims>(token, &self.obj_dec, &v)
            .ok()
            .map(|d| d.claims)
    }

    /// Sign any serializable claims with the RSA key (log cursors).
    pub fn sign_any<T: Serialize>(&self, c: &T) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), c, &self.rsa_enc).unwrap_or_default()
    }

    pub fn verify_any<T: for<'de> Deserialize<'de>>(&self, token: &str) -> Option<T> {
        let mut v = Validation::new(Algorithm::RS256);
        v.leeway = 0;
        v.validate_aud = false;
        jsonwebtoken::decode::<T>(token, &self.rsa_dec, &v)
            .ok()
            .map(|d| d.claims)
    }
}

fn write_secret(path: &Path, data: &[u8]) -> Result<(), KeyError> {
    pv_fs::write_atomic(path, data).map_err(|e| file_err(path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| file_err(path, e))?;
    }
    Ok(())
}

/// The claims of an API token (user, device or anonymous).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub exp: i64,
    pub orig_iat: i64,
    /// The login name as typed.
    pub id: String,
    pub prn: String,
    pub nick: String,
    pub roles: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub scopes: String,
    /// Devices: the owner prn at login time ("" while unclaimed).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub owner: Option<String>,
}

impl Claims {
    /// Whether the token carries a scope allowing `service` (`devices`,
    /// `trails`, `objects`, `logs`), for writing or only reading.
    pub fn allows(&self, service: &str, write: bool) -> bool {
        self.scopes.split_whitespace().any(|s| {
            let s = s.strip_prefix(SCOPE_PREFIX).unwrap_or(s);
            s == "all"
                || s == service
                || (!write && s == format!("{service}.readonly"))
                || (write && s == format!("{service}.write"))
                || (write && s == format!("{service}.change"))
        })
    }
}

/// The claims of a signed object URL.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ObjectClaims {
    pub iss: String,
    pub sub: String,
    /// Storage id to read or write.
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    #[serde(rename = "DispositionName")]
    pub disposition_name: String,
    #[serde(rename = "Size")]
    pub size: i64,
    #[serde(rename = "Method")]
    pub method: String,
    #[serde(rename = "Sha")]
    pub sha: String,
}
