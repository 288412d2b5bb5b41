//! HTTP remotes: the `.pvrremote` protocol spoken by the hub and by devices.
//!
//! A remote is found through `GET <url>/.pvrremote` ([`discover`]), which
//! names where the state is (`json-get-url`), where objects are announced
//! and described (`objects-endpoint`) and where new revisions are posted
//! (`post-url`). Object bytes move through signed URLs, fetched without the
//! bearer token. [`fetch`] downloads states and objects; [`upload`] announces
//! and uploads objects; [`post`] posts revisions.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use reqwest::blocking::{Body, Client as HttpClient, Response};
use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, Url};
use serde_json::Value;

use crate::Result;

pub mod auth;
pub mod fetch;
pub mod post;
mod refs;
mod session;
pub mod upload;

pub use refs::{
    clone_dir_name, expand_reference, is_url, join_path, with_trailing_slash, DEVICE_PORT,
};
pub use session::Session;

#[cfg(test)]
mod tests;

/// How long small JSON calls may take in all.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// A failure talking to a remote.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("bad URL {url:?}: {msg}")]
    BadUrl { url: String, msg: String },
    #[error("cannot reach {url}: {msg}")]
    Unreachable { url: String, msg: String },
    #[error("REST call failed. {code} {status} ({method} {url}){detail}")]
    RestFailed {
        method: String,
        url: String,
        code: u16,
        status: String,
        /// `: <the server's message>` when it sent one, else empty.
        detail: String,
    },
    #[error("{method} {url}: access denied ({code} {status}); log in with 'pvr login <hub>' (or give a token with -a/--access-token or PVR_AUTH)")]
    Unauthorized {
        method: String,
        url: String,
        code: u16,
        status: String,
    },
    #[error("Endpoint reported \"Not ready\"; retry in {0} seconds")]
    NotReady(String),
    #[error("Error posting object {code} ({key})")]
    PostObject { code: u16, key: String },
    #[error("bad answer from {url}: {msg}")]
    BadAnswer { url: String, msg: String },
    #[error("{url}/.pvrremote has no {field}")]
    MissingEndpoint { url: String, field: &'static str },
    #[error("Post must be a remote REST endpoint: {0}")]
    NotRemote(String),
}

/// An HTTP client for remotes, with the bearer token of the user. The
/// underlying connection pool is built on first use.
#[derive(Default)]
pub struct Client {
    /// A token given on the command line: sent as is, no login.
    token: Option<String>,
    /// Logins through the hub's 401 discovery, with a token cache.
    session: Option<Session>,
    http: OnceLock<HttpClient>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field("session", &self.session.is_some())
            .finish()
    }
}

impl Client {
    /// A client that sends `Authorization: Bearer <token>` to the remote's
    /// own URLs when a (non-empty) token is given.
    pub fn new(token: Option<String>) -> Self {
        Client {
            token: token.filter(|t| !t.is_empty()),
            session: None,
            http: OnceLock::new(),
        }
    }

    /// A client that logs in when a hub asks (401 with `ph-aeps`), with
    /// tokens cached in `session`'s config directory. An explicit `token`
    /// disables logins.
    pub fn with_session(token: Option<String>, session: Session) -> Self {
        Client {
            session: Some(session),
            ..Client::new(token)
        }
    }

    /// The bearer token, if any: the explicit one, else the one the
    /// session logged in with.
    pub fn token(&self) -> Option<String> {
        self.token.clone().or_else(|| {
            self.session
                .as_ref()
                .and_then(|s| s.current().map(|(_, t)| t))
        })
    }

    /// The session, if logins are enabled.
    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    pub(crate) fn http(&self, url: &str) -> Result<&HttpClient> {
        if let Some(c) = self.http.get() {
            return Ok(c);
        }
        let c = HttpClient::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(None)
            .user_agent(concat!("pvr-rs/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RemoteError::Unreachable {
                url: redact(url),
                msg: error_chain(&e),
            })?;
        let _ = self.http.set(c);
        Ok(self.http.get().expect("client was just set"))
    }

    /// Send one request; the status is not checked. `auth` adds the bearer
    /// token (never for signed URLs) and, with a session, logs in when the
    /// hub asks and sends the request again; `long` lifts the overall time
    /// limit (object bytes).
    pub(crate) fn send(
        &self,
        method: Method,
        url: &str,
        auth: bool,
        body: Option<Payload>,
        long: bool,
    ) -> Result<Response> {
        let u = Url::parse(url).map_err(|e| RemoteError::BadUrl {
            url: redact(url),
            msg: e.to_string(),
        })?;
        let session = self
            .session
            .as_ref()
            .filter(|_| auth && self.token.is_none());
        let Some(session) = session else {
            let token = if auth { self.token.as_deref() } else { None };
            return self.send_once(method, &u, token, body, long);
        };
        let sent = session.token_for(self, &u)?;
        // a JSON body can be sent again after a login; a stream cannot
        let again = match &body {
            Some(Payload::Json(b)) => Some(Some(Payload::Json(b.clone()))),
            Some(Payload::Stream(..)) => None,
            None => Some(None),
        };
        let r = self.send_once(method.clone(), &u, sent.as_deref(), body, long)?;
        if !matches!(r.status().as_u16(), 401 | 403) {
            return Ok(r);
        }
        let Some(challenge) = r
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(auth::Challenge::parse)
        else {
            return Ok(r);
        };
        let Some(again) = again else { return Ok(r) };
        let read = method == Method::GET;
        match session.obtain(self, &challenge, sent.as_deref(), read)? {
            Some(token) => self.send_once(method, &u, Some(&token), again, long),
            None => Ok(r),
        }
    }

    fn send_once(
        &self,
        method: Method,
        u: &Url,
        token: Option<&str>,
        body: Option<Payload>,
        long: bool,
    ) -> Result<Response> {
        let url = u.as_str();
        let mut rq = self.http(url)?.request(method, u.clone());
        if !long {
            rq = rq.timeout(CALL_TIMEOUT);
        }
        if let Some(t) = token {
            rq = rq.header(AUTHORIZATION, format!("Bearer {t}"));
        }
        match body {
            Some(Payload::Json(b)) => {
                rq = rq
                    .header(CONTENT_TYPE, "application/json")
                    .header(CONTENT_LENGTH, b.len())
                    .body(b)
            }
            Some(Payload::Stream(r, len)) => {
                rq = rq
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, len)
                    .body(Body::sized(r, len))
            }
            None => {}
        }
        rq.send().map_err(|e| {
            RemoteError::Unreachable {
                url: redact(url),
                msg: error_chain(&e),
            }
            .into()
        })
    }

    /// `GET url` with the token; any non-2xx answer is an error.
    pub(crate) fn get_ok(&self, url: &str) -> Result<Response> {
        let r = self.send(Method::GET, url, true, None, false)?;
        check("GET", url, r)
    }

    /// `GET url` with the token, parsed as JSON.
    pub fn get_json(&self, url: &str) -> Result<Value> {
        let r = self.get_ok(url)?;
        read_json(url, r)
    }

    /// `method url` with the token and a JSON body (canonical), the answer
    /// parsed as JSON (`null` when empty); any non-2xx answer is an error.
    pub fn call_json(&self, method: Method, url: &str, body: Option<&Value>) -> Result<Value> {
        let payload = body.map(|b| Payload::Json(pv_json::to_canonical(b)));
        let r = self.send(method.clone(), url, true, payload, false)?;
        let r = check(method.as_str(), url, r)?;
        let bytes = r.bytes().map_err(|e| RemoteError::Unreachable {
            url: redact(url),
            msg: error_chain(&e),
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        pv_json::parse(&bytes).map_err(|e| {
            RemoteError::BadAnswer {
                url: redact(url),
                msg: format!("not JSON: {e}"),
            }
            .into()
        })
    }
}

/// A request body.
pub(crate) enum Payload {
    Json(Vec<u8>),
    Stream(Box<dyn std::io::Read + Send>, u64),
}

/// Turn a non-2xx answer into an error.
pub(crate) fn check(method: &str, url: &str, r: Response) -> Result<Response> {
    let s = r.status();
    if s.is_success() {
        return Ok(r);
    }
    let status = s.canonical_reason().unwrap_or("").to_string();
    let (method, url, code) = (method.to_string(), redact(url), s.as_u16());
    Err(match code {
        401 | 403 => RemoteError::Unauthorized {
            method,
            url,
            code,
            status,
        },
        503 if r.headers().contains_key(RETRY_AFTER) => {
            RemoteError::NotReady(r.headers()[RETRY_AFTER].to_str().unwrap_or("?").to_string())
        }
        _ => RemoteError::RestFailed {
            method,
            url,
            code,
            status,
            detail: server_message(r),
        },
    }
    .into())
}

/// `: <message>` from an error body (`{"Error":"…"}`, or short text).
fn server_message(r: Response) -> String {
    use std::io::Read;
    let mut body = Vec::new();
    let _ = r.take(4096).read_to_end(&mut body);
    let msg = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            ["Error", "error", "message"]
                .iter()
                .find_map(|k| v.get(*k).and_then(|m| m.as_str()).map(String::from))
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_string());
    let msg: String = msg.chars().filter(|c| !c.is_control()).take(300).collect();
    if msg.is_empty() {
        String::new()
    } else {
        format!(": {msg}")
    }
}

/// Read a response body as JSON.
pub(crate) fn read_json(url: &str, r: Response) -> Result<Value> {
    let bytes = r.bytes().map_err(|e| RemoteError::Unreachable {
        url: redact(url),
        msg: error_chain(&e),
    })?;
    pv_json::parse(&bytes).map_err(|e| {
        RemoteError::BadAnswer {
            url: redact(url),
            msg: format!("not JSON: {e}"),
        }
        .into()
    })
}

/// The innermost causes of an HTTP error, which say what really happened
/// (e.g. "Connection refused (os error 111)").
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        last = s.to_string();
        cur = s.source();
    }
    if last.is_empty() {
        "request failed".into()
    } else {
        last
    }
}

/// A URL for messages: signed URLs carry their credentials in the query.
pub fn redact(url: &str) -> String {
    match url.split_once('?') {
        Some((u, _)) => format!("{u}?…"),
        None => url.to_string(),
    }
}

/// The `.pvrremote` document of a remote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteInfo {
    pub pvr_spec: String,
    pub json_get_url: String,
    pub json_key: String,
    pub objects_endpoint: String,
    pub post_url: String,
    pub post_fields: Vec<String>,
    pub post_fields_opt: Vec<String>,
    pub step_get_url: String,
}

impl RemoteInfo {
    /// Read the known fields (missing or mistyped ones are empty; unknown
    /// ones ignored). URLs are resolved against `base` (the `.pvrremote`
    /// URL) so relative ones work.
    pub fn from_value(v: &Value, base: Option<&Url>) -> Self {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let u = |k: &str| {
            let raw = s(k);
            match base {
                Some(b) if !raw.is_empty() => b.join(&raw).map(String::from).unwrap_or(raw),
                _ => raw,
            }
        };
        let list = |k: &str| {
            v.get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default()
        };
        RemoteInfo {
            pvr_spec: s("pvr-spec"),
            json_get_url: u("json-get-url"),
            json_key: s("json-key"),
            objects_endpoint: u("objects-endpoint"),
            post_url: u("post-url"),
            post_fields: list("post-fields"),
            post_fields_opt: list("post-fields-opt"),
            step_get_url: u("step-get-url"),
        }
    }
}

/// A discovered remote.
#[derive(Debug, Clone)]
pub struct Remote {
    /// The remote's URL, without fragment.
    pub url: String,
    pub info: RemoteInfo,
    /// The `.pvrremote` document as served.
    pub raw: Value,
}

impl Remote {
    /// `objects-endpoint`, or an error naming the remote.
    pub fn objects_endpoint(&self) -> Result<&str> {
        self.need(&self.info.objects_endpoint, "objects-endpoint")
    }

    fn need<'a>(&self, v: &'a str, field: &'static str) -> Result<&'a str> {
        if v.is_empty() {
            return Err(RemoteError::MissingEndpoint {
                url: redact(&self.url),
                field,
            }
            .into());
        }
        Ok(v)
    }
}

/// `GET <url>/.pvrremote` (the fragment of `url` is not sent).
pub fn discover(client: &Client, url: &str) -> Result<Remote> {
    let base = url.split_once('#').map_or(url, |(l, _)| l);
    let pvrremote = join_path(base, ".pvrremote")?;
    let raw = match client.get_json(&pvrremote) {
        Ok(v) => v,
        Err(crate::Error::Remote(RemoteError::RestFailed { code: 404, .. }))
            if nick_path(base).is_some() =>
        {
            return discover(client, &resolve_nick_url(client, base)?);
        }
        Err(e) => return Err(e),
    };
    if !raw.is_object() {
        return Err(RemoteError::BadAnswer {
            url: redact(&pvrremote),
            msg: "not a JSON object".into(),
        }
        .into());
    }
    let parsed = Url::parse(&pvrremote).ok();
    Ok(Remote {
        url: base.to_string(),
        info: RemoteInfo::from_value(&raw, parsed.as_ref()),
        raw,
    })
}

/// `<hub>/<user-nick>/<device-nick>[/<rev>|/steps/<rev>]`: the nicks and
/// the revision, for hubs that do not serve `.pvrremote` there.
fn nick_path(url: &str) -> Option<(String, String, Option<String>)> {
    let u = Url::parse(url).ok()?;
    let segs: Vec<&str> = u.path_segments()?.filter(|s| !s.is_empty()).collect();
    let rev = |r: &str| r.parse::<i64>().ok().map(|_| r.to_string());
    let (user, dev, rev) = match segs.as_slice() {
        [u, d] => (u, d, None),
        [u, d, r] => (u, d, Some(rev(r)?)),
        [u, d, "steps", r] => (u, d, Some(rev(r)?)),
        _ => return None,
    };
    if matches!(*user, "trails" | "devices" | "cgi-bin" | "objects" | "auth") {
        return None;
    }
    Some((user.to_string(), dev.to_string(), rev))
}

/// The trail URL of `<hub>/<user-nick>/<device-nick>[…]`, found through
/// `GET <hub>/devices/np/<user-nick>/<device-nick>`.
fn resolve_nick_url(client: &Client, url: &str) -> Result<String> {
    let (user, dev, rev) = nick_path(url).expect("checked by the caller");
    let u = Url::parse(url).map_err(|e| RemoteError::BadUrl {
        url: redact(url),
        msg: e.to_string(),
    })?;
    let origin = u.origin().ascii_serialization();
    let mut np = Url::parse(&origin).map_err(|e| RemoteError::BadUrl {
        url: redact(url),
        msg: e.to_string(),
    })?;
    np.path_segments_mut()
        .map_err(|_| RemoteError::BadUrl {
            url: redact(url),
            msg: "cannot be a base".into(),
        })?
        .extend(["devices", "np", &user, &dev]);
    let d = client.get_json(np.as_str())?;
    let id = d
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()))
        .ok_or_else(|| RemoteError::BadAnswer {
            url: redact(np.as_str()),
            msg: "no device id".into(),
        })?;
    Ok(match rev {
        Some(r) => format!("{origin}/trails/{id}/steps/{r}"),
        None => format!("{origin}/trails/{id}"),
    })
}

/// Run `f` over `items` with up to `workers` threads; stops handing out
/// work after the first failure and returns the first error (in item
/// order). Results come back in item order.
pub(crate) fn parallel<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<R>>>> =
        Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers.clamp(1, items.len().max(1)) {
            s.spawn(|| loop {
                if failed.load(Ordering::Relaxed) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                if r.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut out = Vec::with_capacity(items.len());
    for r in results.into_iter().flatten() {
        out.push(r?);
    }
    Ok(out)
}
