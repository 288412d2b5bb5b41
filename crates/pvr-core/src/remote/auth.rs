//! Logging in to a hub as the original pvr does.
//!
//! A hub answers a call without a valid token with 401 and
//! `WWW-Authenticate: JWT realm="…", ph-aeps="<auth endpoint>"`. pvr then
//! takes a token for `<auth endpoint> realm=<realm>` from its cache
//! (`auth.json` in the config directory), refreshes it
//! (`GET <auth endpoint>/login`) or logs in (`POST <auth endpoint>/login`)
//! with credentials from the command line, the environment or a prompt, and
//! sends the call again. Tokens close to expiry are refreshed before use.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, Result};

/// The parameters of a `WWW-Authenticate` challenge pvr understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `JWT` or `Bearer`.
    pub scheme: String,
    pub realm: String,
    /// The first endpoint of `ph-aeps`.
    pub auth_ep: String,
}

impl Challenge {
    /// Parse `JWT realm="pantahub services", ph-aeps="https://hub/auth"`.
    /// `None` without a `ph-aeps` (e.g. an insufficient-scope 403).
    pub fn parse(header: &str) -> Option<Challenge> {
        let (scheme, rest) = header.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("jwt") && !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let params = parse_params(rest);
        let aeps = params.get("ph-aeps")?;
        let auth_ep = aeps.split(',').next()?.trim().trim_end_matches('/');
        if auth_ep.is_empty() {
            return None;
        }
        Some(Challenge {
            scheme: scheme.to_string(),
            realm: params.get("realm").cloned().unwrap_or_default(),
            auth_ep: auth_ep.to_string(),
        })
    }

    /// The key of this challenge's token in `auth.json`.
    pub fn cache_key(&self) -> String {
        format!("{} realm={}", self.auth_ep, self.realm)
    }
}

/// `k="v", k2=v2` → map (keys lowercased; quotes removed).
fn parse_params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((k, after)) = rest.split_once('=') else {
            break;
        };
        let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (v, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => (q, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        out.insert(k, v.trim().to_string());
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

/// One cached token (field names as the original writes them).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenPair {
    #[serde(rename = "Name", default)]
    pub name: String,
    #[serde(rename = "access-token", default)]
    pub access: String,
    #[serde(rename = "refresh-token", default)]
    pub refresh: String,
}

/// `auth.json`: `{"spec":"1","tokens":{"<ep> realm=<realm>":{…}}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuthFile {
    #[serde(default = "spec_one")]
    pub spec: String,
    #[serde(default)]
    pub tokens: BTreeMap<String, TokenPair>,
}

fn spec_one() -> String {
    "1".into()
}

impl Default for AuthFile {
    fn default() -> Self {
        AuthFile {
            spec: spec_one(),
            tokens: BTreeMap::new(),
        }
    }
}

/// The token cache of a config directory.
#[derive(Debug, Clone)]
pub struct TokenCache {
    path: PathBuf,
}

impl TokenCache {
    /// `<config_dir>/auth.json`.
    pub fn new(config_dir: &Path) -> Self {
        TokenCache {
            path: config_dir.join("auth.json"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cache (empty when there is no file yet).
    pub fn load(&self) -> Result<AuthFile> {
        match std::fs::read(&self.path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::BadRepoFile {
                path: self.path.clone(),
                msg: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AuthFile::default()),
            Err(e) => Err(pv_fs::FsError::new("read", &self.path, e).into()),
        }
    }

    /// The token cached for `key`.
    pub fn get(&self, key: &str) -> Result<Option<TokenPair>> {
        Ok(self.load()?.tokens.remove(key))
    }

    /// Store `pair` under `key` (file mode 0600, written durably).
    pub fn put(&self, key: &str, pair: TokenPair) -> Result<()> {
        let mut f = self.load()?;
        f.tokens.insert(key.to_string(), pair);
        self.save(&f)
    }

    fn save(&self, f: &AuthFile) -> Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| pv_fs::FsError::new("mkdir", dir, e))?;
        }
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        f.serialize(&mut ser)
            .map_err(|e| Error::Other(format!("encode auth.json: {e}")))?;
        let mut file = pv_fs::AtomicFile::create_with_mode(&self.path, 0o600)?;
        file.write_all(&out)
            .map_err(|e| pv_fs::FsError::new("write", &self.path, e))?;
        file.commit()?;
        Ok(())
    }
}

/// The claims of a JWT, read without checking its signature (to show who
/// is logged in and to see when it expires).
pub fn claims(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Seconds since the epoch.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Whether a token has expired (unreadable tokens are treated as valid:
/// the hub decides).
pub fn expired(token: &str, now: i64) -> bool {
    claims(token)
        .and_then(|c| c.get("exp").and_then(Value::as_i64))
        .is_some_and(|exp| exp <= now)
}

/// Whether a still-valid token should be refreshed before use: less than
/// ten minutes, or less than half of its life since the first login, left.
pub fn wants_refresh(token: &str, now: i64) -> bool {
    let Some(c) = claims(token) else {
        return false;
    };
    let (Some(exp), Some(orig)) = (
        c.get("exp").and_then(Value::as_i64),
        c.get("orig_iat").and_then(Value::as_i64),
    ) else {
        return false;
    };
    let left = exp - now;
    left > 0 && left < (10 * 60).min((exp - orig) / 2)
}

/// Where credentials come from when a hub asks for a login.
pub trait Credentials: Send + Sync {
    /// Username and password for `auth_ep` (`attempt` counts from 1), or
    /// `None` to give up.
    fn ask(&self, auth_ep: &str, realm: &str, attempt: u32) -> Option<(String, String)>;
    /// How many times a refused login may be retried.
    fn attempts(&self) -> u32 {
        1
    }
    /// Whether [`Credentials::ask`] can answer at all.
    fn available(&self) -> bool {
        true
    }
}

/// No credentials: calls needing a login fail.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoCredentials;

impl Credentials for NoCredentials {
    fn ask(&self, _: &str, _: &str, _: u32) -> Option<(String, String)> {
        None
    }
    fn available(&self) -> bool {
        false
    }
}

/// Fixed credentials (flags or environment).
#[derive(Debug, Clone)]
pub struct FixedCredentials {
    pub user: String,
    pub password: String,
}

impl Credentials for FixedCredentials {
    fn ask(&self, _: &str, _: &str, _: u32) -> Option<(String, String)> {
        Some((self.user.clone(), self.password.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let c =
            Challenge::parse(r#"JWT realm="pantahub services", ph-aeps="http://127.0.0.1:9/auth""#)
                .unwrap();
        assert_eq!(c.realm, "pantahub services");
        assert_eq!(c.auth_ep, "http://127.0.0.1:9/auth");
        assert_eq!(
            c.cache_key(),
            "http://127.0.0.1:9/auth realm=pantahub services"
        );
        let c = Challenge::parse(r#"Bearer ph-aeps="https://a/auth/,https://b/auth", realm=x"#)
            .unwrap();
        assert_eq!(
            (c.auth_ep.as_str(), c.realm.as_str()),
            ("https://a/auth", "x")
        );
        assert!(Challenge::parse(r#"Bearer Realm="x", error="insufficient_scope""#).is_none());
        assert!(Challenge::parse(r#"Basic realm="x", ph-aeps="h""#).is_none());
        assert!(Challenge::parse("").is_none());
    }

    fn jwt(claims: &Value) -> String {
        let e = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        format!(
            "{}.{}.sig",
            e(br#"{"alg":"RS256"}"#),
            e(claims.to_string().as_bytes())
        )
    }

    #[test]
    fn expiry_and_refresh_margin() {
        let t = jwt(&serde_json::json!({"exp": 1000, "orig_iat": 0, "nick": "u"}));
        assert_eq!(claims(&t).unwrap()["nick"], "u");
        assert!(!expired(&t, 999));
        assert!(expired(&t, 1000));
        // a 1000 s token: refreshed once less than 500 s are left
        assert!(!wants_refresh(&t, 400));
        assert!(wants_refresh(&t, 600));
        assert!(!wants_refresh(&t, 1000));
        // an hour-long token: refreshed in its last ten minutes
        let t = jwt(&serde_json::json!({"exp": 3600, "orig_iat": 0}));
        assert!(!wants_refresh(&t, 2000));
        assert!(wants_refresh(&t, 3100));
        assert!(!wants_refresh("not a jwt", 0));
        assert!(!expired("not a jwt", i64::MAX));
    }

    #[test]
    fn cache_round_trip_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let c = TokenCache::new(&d.path().join("cfg"));
        assert_eq!(c.load().unwrap(), AuthFile::default());
        let p = TokenPair {
            name: String::new(),
            access: "a".into(),
            refresh: "r".into(),
        };
        c.put("http://h/auth realm=x", p.clone()).unwrap();
        assert_eq!(c.get("http://h/auth realm=x").unwrap(), Some(p));
        let text = std::fs::read_to_string(c.path()).unwrap();
        assert!(text.contains("\n    \"spec\": \"1\""), "{text}");
        assert!(text.contains("\"access-token\": \"a\""), "{text}");
        let mode = std::fs::metadata(c.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(c.path(), "{").unwrap();
        assert!(c.get("k").is_err());
    }
}
