//! The tokens of one pvr run: which one to send to a hub, and how to get a
//! new one when the hub refuses it (see [`super::auth`]).

use std::sync::Mutex;

use reqwest::{Method, Url};
use serde_json::{json, Value};

use super::auth::{
    expired, now_secs, wants_refresh, Challenge, Credentials, TokenCache, TokenPair,
};
use super::{check, read_json, Client, Payload, RemoteError};
use crate::Result;

/// Logins of one run, backed by the config directory's `auth.json`.
pub struct Session {
    cache: TokenCache,
    creds: Box<dyn Credentials>,
    /// Ignore cached tokens until this run has logged in (`pvr login`).
    fresh: bool,
    /// (auth endpoint, token) in use; also serialises logins.
    current: Mutex<Option<(String, String)>>,
    /// Reads without credentials may log in as the anonymous reader.
    anonymous_reads: bool,
}

impl Session {
    /// A session over `cache`; `fresh` forces a new login before any cached
    /// token is used.
    pub fn new(cache: TokenCache, creds: Box<dyn Credentials>, fresh: bool) -> Self {
        Session {
            cache,
            creds,
            fresh,
            current: Mutex::new(None),
            anonymous_reads: false,
        }
    }

    /// Let reads without credentials log in as the anonymous reader (the
    /// original does so to clone public devices).
    pub fn with_anonymous_reads(mut self, on: bool) -> Self {
        self.anonymous_reads = on;
        self
    }

    pub fn cache(&self) -> &TokenCache {
        &self.cache
    }

    /// The (auth endpoint, token) this run uses, once known.
    pub fn current(&self) -> Option<(String, String)> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_current(&self, ep: &str, token: &str) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((ep.to_string(), token.to_string()));
    }

    /// The token to send to `url` before any challenge: the one in use for
    /// its host, else a cached one for an auth endpoint on the same host
    /// (refreshed first when close to expiry).
    pub(crate) fn token_for(&self, client: &Client, url: &Url) -> Result<Option<String>> {
        let now = now_secs();
        if let Some((ep, tok)) = self.current() {
            if same_origin(&ep, url) {
                return Ok(Some(self.maybe_refresh(client, &ep, None, tok, now)));
            }
        }
        if self.fresh {
            return Ok(None);
        }
        let file = self.cache.load()?;
        let found = file.tokens.iter().find(|(key, pair)| {
            !pair.access.is_empty()
                && !expired(&pair.access, now)
                && same_origin(endpoint_of(key), url)
        });
        let Some((key, pair)) = found else {
            return Ok(None);
        };
        let ep = endpoint_of(key).to_string();
        let tok = self.maybe_refresh(client, &ep, Some(key), pair.access.clone(), now);
        self.set_current(&ep, &tok);
        Ok(Some(tok))
    }

    /// `tok`, or a refreshed one (cached under `key`, or under the key of
    /// the entry holding `tok`) when it is close to expiry. A failed
    /// refresh keeps `tok`: it is still valid.
    fn maybe_refresh(
        &self,
        client: &Client,
        ep: &str,
        key: Option<&str>,
        tok: String,
        now: i64,
    ) -> String {
        if !wants_refresh(&tok, now) {
            return tok;
        }
        let Ok(Some(fresh)) = refresh(client, ep, &tok) else {
            return tok;
        };
        let key = match key {
            Some(k) => Some(k.to_string()),
            None => self.cache.load().ok().and_then(|f| {
                f.tokens
                    .into_iter()
                    .find(|(_, p)| p.access == tok)
                    .map(|(k, _)| k)
            }),
        };
        if let Some(k) = key {
            let _ = self.cache.put(&k, pair(&fresh));
        }
        self.set_current(ep, &fresh);
        fresh
    }

    /// A token after `challenge` refused `sent`: one another thread just
    /// obtained, a cached one, a refreshed one, or a new login; for a
    /// `read` without credentials an anonymous login (public devices),
    /// kept for this run only. `None` when there is no way to log in.
    pub(crate) fn obtain(
        &self,
        client: &Client,
        challenge: &Challenge,
        sent: Option<&str>,
        read: bool,
    ) -> Result<Option<String>> {
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let ep = &challenge.auth_ep;
        if let Some((e, t)) = cur.as_ref() {
            if e == ep && Some(t.as_str()) != sent {
                return Ok(Some(t.clone()));
            }
        }
        let key = challenge.cache_key();
        let now = now_secs();
        let logged_in = cur.is_some();
        if !self.fresh || logged_in {
            if let Some(p) = self.cache.get(&key)? {
                if !p.access.is_empty()
                    && Some(p.access.as_str()) != sent
                    && !expired(&p.access, now)
                {
                    *cur = Some((ep.clone(), p.access.clone()));
                    return Ok(Some(p.access));
                }
                if !p.refresh.is_empty() && !expired(&p.refresh, now) {
                    if let Some(t) = refresh(client, ep, &p.refresh)? {
                        self.cache.put(&key, pair(&t))?;
                        *cur = Some((ep.clone(), t.clone()));
                        return Ok(Some(t));
                    }
                }
            }
        }
        for attempt in 1..=self.creds.attempts().max(1) {
            let Some((user, password)) = self.creds.ask(ep, &challenge.realm, attempt) else {
                break;
            };
            if let Some(t) = login(client, ep, &user, &password)? {
                self.cache.put(&key, pair(&t))?;
                *cur = Some((ep.clone(), t.clone()));
                return Ok(Some(t));
            }
        }
        if self.anonymous_reads && read && sent.is_none() && !self.creds.available() {
            if let Some(t) = anonymous(client, ep)? {
                *cur = Some((ep.clone(), t.clone()));
                return Ok(Some(t));
            }
        }
        Ok(None)
    }
}

/// The original keeps the login token as both access and refresh token.
fn pair(token: &str) -> TokenPair {
    TokenPair {
        name: String::new(),
        access: token.to_string(),
        refresh: token.to_string(),
    }
}

/// `<ep> realm=<realm>` → `<ep>`.
fn endpoint_of(key: &str) -> &str {
    key.split_once(" realm=").map_or(key, |(e, _)| e)
}

fn same_origin(ep: &str, url: &Url) -> bool {
    Url::parse(ep).is_ok_and(|e| e.origin() == url.origin())
}

fn parse_ep(ep: &str, path: &str) -> Result<Url> {
    let u = format!("{}/{path}", ep.trim_end_matches('/'));
    Url::parse(&u).map_err(|e| {
        RemoteError::BadUrl {
            url: u,
            msg: e.to_string(),
        }
        .into()
    })
}

fn token_of(url: &str, v: &Value) -> Result<String> {
    v.get("token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .ok_or_else(|| {
            RemoteError::BadAnswer {
                url: url.to_string(),
                msg: "no token in the answer".into(),
            }
            .into()
        })
}

/// `POST <ep>/login`: a token, or `None` when the hub refuses the
/// credentials.
pub fn login(client: &Client, ep: &str, user: &str, password: &str) -> Result<Option<String>> {
    let u = parse_ep(ep, "login")?;
    let body = pv_json::to_canonical(&json!({"username": user, "password": password}));
    let r = client.send_once(Method::POST, &u, None, Some(Payload::Json(body)), false)?;
    if matches!(r.status().as_u16(), 401 | 403) {
        return Ok(None);
    }
    let r = check("POST", u.as_str(), r)?;
    let v = read_json(u.as_str(), r)?;
    token_of(u.as_str(), &v).map(Some)
}

/// The anonymous reader of the original (`prn:pantahub.com:auth:/anon`,
/// read-only scopes).
pub const ANON: &str = "prn:pantahub.com:auth:/anon";

/// `POST <ep>/login` as the anonymous reader.
fn anonymous(client: &Client, ep: &str) -> Result<Option<String>> {
    let u = parse_ep(ep, "login")?;
    let body = pv_json::to_canonical(&json!({
        "username": ANON,
        "password": ANON,
        "scope": "devices.readonly objects.readonly trails.readonly",
    }));
    let r = client.send_once(Method::POST, &u, None, Some(Payload::Json(body)), false)?;
    if !r.status().is_success() {
        return Ok(None);
    }
    let v = read_json(u.as_str(), r)?;
    token_of(u.as_str(), &v).map(Some)
}

/// `GET <ep>/login` with a still-valid token: a fresh one, or `None` when
/// the hub refuses (expired, too old).
pub fn refresh(client: &Client, ep: &str, token: &str) -> Result<Option<String>> {
    let u = parse_ep(ep, "login")?;
    let r = client.send_once(Method::GET, &u, Some(token), None, false)?;
    if matches!(r.status().as_u16(), 401 | 403) {
        return Ok(None);
    }
    let r = check("GET", u.as_str(), r)?;
    let v = read_json(u.as_str(), r)?;
    token_of(u.as_str(), &v).map(Some)
}
