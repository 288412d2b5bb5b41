//! The device side of the Pantahub protocol (spec hub.md §4), one call per
//! request, over a small blocking HTTP/1.1 client (ureq, rustls over ring):
//! no async runtime of its own. The runtime does not link it: its
//! requests come from `pv-hub-proto`'s `HubAgent` to the `pv-hub-agent`
//! process, which serves them with this crate ([`agent`]).
//!
//! `Hub` is cheap to clone (the connection pool and the bearer token are
//! shared), so that parallel downloads can run on their own threads. A host
//! written `http://…` talks plain HTTP (tests); any other host is reached
//! with TLS, verified against the platform's trust store (`tls`) and, when
//! given, one more CA file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Map, Value};
use ureq::http::header::{AUTHORIZATION, CONTENT_TYPE, RANGE};
use ureq::http::{request, Method, StatusCode};
use ureq::{Agent, Body};

pub mod agent;
mod tls;
pub use pv_hub_proto::{
    Announce, DeviceInfo, Endpoint, LogOutcome, ObjectInfo, Registration, Step,
};

/// The header carrying a factory join token at registration.
pub const AUTOTOK_HEADER: &str = "Pantahub-Devices-Auto-Token-V1";
/// The statuses a device polls for (spec §4.5), in the original's order.
pub const POLL_QUERY: &str = "progress.status=%7B%22$in%22:%5B%22NEW%22,%22DOWNLOADING%22,%22INPROGRESS%22,%22TESTING%22,%22QUEUED%22%5D%7D";
/// Response bodies larger than this are refused, as the original does.
pub const MAX_BODY: usize = 2 << 20;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 401: the token is missing or expired; log in again.
    #[error("{0}: not authorized")]
    Unauthorized(String),
    #[error("{what}: HTTP {status}: {body}")]
    Status {
        what: String,
        status: u16,
        body: String,
    },
    #[error("{0}: {1}")]
    Http(String, #[source] ureq::Error),
    #[error("{0}: bad answer: {1}")]
    Answer(String, String),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("hub address {0}: {1}")]
    Config(String, String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// The same error as the agent sends it: the transport error as its text.
impl From<Error> for pv_hub_proto::Error {
    fn from(e: Error) -> Self {
        use pv_hub_proto::Error as W;
        match e {
            Error::Unauthorized(what) => W::Unauthorized(what),
            Error::Status { what, status, body } => W::Status { what, status, body },
            Error::Http(what, e) => W::Http(what, e.to_string()),
            Error::Answer(what, m) => W::Answer(what, m),
            Error::Io { op, path, source } => W::Io {
                op: op.into(),
                path,
                message: source.to_string(),
            },
            Error::Config(what, m) => W::Config(what, m),
        }
    }
}

/// A request on its way: method, URL and headers (the body is given when
/// it is sent).
type RequestBuilder = request::Builder;
type Response = ureq::http::Response<Body>;

/// A connection to one hub.
#[derive(Clone)]
pub struct Hub {
    base: String,
    /// Requests with the endpoint's timeout.
    http: Agent,
    /// Blob transfers, which may be long: no overall timeout.
    downloads: Agent,
    token: Arc<Mutex<Option<String>>>,
    /// Requests that did not get through (see
    /// [`pv_hub_proto::Error::is_communication_failure`]), by every clone.
    failures: Arc<AtomicU64>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("base", &self.base).finish()
    }
}

/// An agent for `ep`: its user agent, proxy (or none: the environment's
/// proxy variables are not read; a proxy is asked to CONNECT, for `http://`
/// test hosts too), a 10 s connect timeout, `timeout` over
/// the whole exchange, the answer of any status returned as it is.
fn agent(ep: &Endpoint, roots: &ureq::tls::RootCerts, timeout: Option<Duration>) -> Result<Agent> {
    let proxy = match &ep.proxy {
        Some(p) => Some(ureq::Proxy::new(p).map_err(|e| Error::Config(p.clone(), e.to_string()))?),
        None => None,
    };
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .root_certs(roots.clone())
        .build();
    Ok(Agent::config_builder()
        .user_agent(ep.user_agent.as_str())
        .proxy(proxy)
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_global(timeout)
        .http_status_as_error(false)
        .tls_config(tls)
        .build()
        .new_agent())
}

fn read_body(what: &str, r: Response) -> Result<(StatusCode, Vec<u8>)> {
    use std::io::Read;
    let status = r.status();
    let mut body = Vec::new();
    r.into_body()
        .into_reader()
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| Error::Answer(what.into(), e.to_string()))?;
    if body.len() > MAX_BODY {
        return Err(Error::Answer(what.into(), "body over 2 MiB".into()));
    }
    Ok((status, body))
}

/// The body of a 2xx answer; any other is an [`Error::Status`].
fn success(what: &str, (status, body): (StatusCode, Vec<u8>)) -> Result<Vec<u8>> {
    if !status.is_success() {
        return Err(Error::Status {
            what: what.into(),
            status: status.as_u16(),
            body: String::from_utf8_lossy(&body).chars().take(300).collect(),
        });
    }
    Ok(body)
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| Error::Answer(what.into(), e.to_string()))
}

/// The path of a signed URL from `/local-s3` (or `/s3`) on; the query is
/// dropped as the original does.
pub fn signed_path(url: &str) -> Option<String> {
    let start = url.find("/local-s3/").or_else(|| url.find("/s3/"))?;
    let path = &url[start..];
    Some(path.split('?').next().unwrap_or(path).to_string())
}

impl Hub {
    pub fn new(ep: &Endpoint) -> Result<Hub> {
        let base = ep.base_url();
        let roots = if base.starts_with("https://") {
            tls::roots(&base, ep.ca_file.as_deref())?
        } else {
            ureq::tls::RootCerts::Specific(Default::default())
        };
        Ok(Hub {
            http: agent(ep, &roots, Some(ep.timeout))?,
            downloads: agent(ep, &roots, None)?,
            base,
            token: Arc::new(Mutex::new(None)),
            failures: Arc::default(),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// A client sharing this one's connections, with a token and a count
    /// of failures of its own: the agent serves each call with one.
    pub fn session(&self, token: Option<String>) -> Hub {
        Hub {
            base: self.base.clone(),
            http: self.http.clone(),
            downloads: self.downloads.clone(),
            token: Arc::new(Mutex::new(token)),
            failures: Arc::default(),
        }
    }

    /// The bearer token, once logged in.
    pub fn token(&self) -> Option<String> {
        self.token.lock().expect("token").clone()
    }

    pub fn has_token(&self) -> bool {
        self.token.lock().expect("token").is_some()
    }

    /// How many requests, of this client and its clones, did not get
    /// through so far: no connection, a timeout, or a 5xx answer.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Send a request; a request that does not get through (no connection,
    /// a timeout, a 5xx answer) is counted in [`Hub::failures`].
    fn transmit(
        &self,
        what: &str,
        agent: &Agent,
        r: RequestBuilder,
        body: impl ureq::AsSendBody,
    ) -> Result<Response> {
        let r = r
            .body(body)
            .map_err(ureq::Error::from)
            .and_then(|r| agent.run(r))
            .map_err(|e| {
                self.failures.fetch_add(1, Ordering::Relaxed);
                Error::Http(what.into(), e)
            })?;
        if r.status().is_server_error() {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        Ok(r)
    }

    /// Forget the token (after a 401).
    pub fn drop_token(&self) {
        *self.token.lock().expect("token") = None;
    }

    /// A request to the hub's `path` without the token.
    fn anonymous(&self, m: Method, path: &str) -> RequestBuilder {
        request::Builder::new()
            .method(m)
            .uri(format!("{}{}", self.base, path))
    }

    /// A request to the hub's `path` with the token, if any.
    fn req(&self, m: Method, path: &str) -> RequestBuilder {
        let mut r = self.anonymous(m, path);
        if let Some(t) = self.token.lock().expect("token").as_ref() {
            r = r.header(AUTHORIZATION, format!("Bearer {t}"));
        }
        r
    }

    /// Send and read the whole answer; 401 becomes `Unauthorized`.
    fn send(&self, what: &str, r: RequestBuilder, body: Vec<u8>) -> Result<(StatusCode, Vec<u8>)> {
        self.send_on(what, &self.http, r, body)
    }

    /// [`Hub::send`] through `agent`.
    fn send_on(
        &self,
        what: &str,
        agent: &Agent,
        r: RequestBuilder,
        body: impl ureq::AsSendBody,
    ) -> Result<(StatusCode, Vec<u8>)> {
        let r = self.transmit(what, agent, r, body)?;
        let (status, body) = read_body(what, r)?;
        if status == StatusCode::UNAUTHORIZED {
            return Err(Error::Unauthorized(what.into()));
        }
        Ok((status, body))
    }

    fn expect_ok(&self, what: &str, r: RequestBuilder, body: Vec<u8>) -> Result<Vec<u8>> {
        success(what, self.send(what, r, body)?)
    }

    /// Send `v` as JSON; the answer as [`Hub::expect_ok`].
    fn expect_ok_json(&self, what: &str, r: RequestBuilder, v: &Value) -> Result<Vec<u8>> {
        let r = r.header(CONTENT_TYPE, "application/json");
        self.expect_ok(what, r, serde_json::to_vec(v).expect("json"))
    }

    /// Send `v` as JSON; the answer as [`Hub::send`].
    fn send_json(&self, what: &str, r: RequestBuilder, v: &Value) -> Result<(StatusCode, Vec<u8>)> {
        let r = r.header(CONTENT_TYPE, "application/json");
        self.send(what, r, serde_json::to_vec(v).expect("json"))
    }

    /// `POST /devices/` without a token, with the join token if any.
    pub fn register(&self, autotok: Option<&str>) -> Result<Registration> {
        let mut r = self.anonymous(Method::POST, "/devices/");
        if let Some(t) = autotok.filter(|t| !t.is_empty()) {
            r = r.header(AUTOTOK_HEADER, t);
        }
        let body = self.expect_ok_json("register", r, &json!({}))?;
        let reg: Registration = parse("register", &body)?;
        if reg.id.is_empty() || reg.prn.is_empty() || reg.secret.is_empty() {
            return Err(Error::Answer(
                "register".into(),
                "no id, prn or secret".into(),
            ));
        }
        Ok(reg)
    }

    /// `POST /auth/login` with the device's prn and secret; keeps the token.
    pub fn login(&self, prn: &str, secret: &str) -> Result<()> {
        let body = self.expect_ok_json(
            "login",
            self.anonymous(Method::POST, "/auth/login"),
            &json!({"username": prn, "password": secret}),
        )?;
        let v: Value = parse("login", &body)?;
        let t = v
            .get("token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::Answer("login".into(), "no token".into()))?;
        *self.token.lock().expect("token") = Some(t.to_string());
        Ok(())
    }

    /// `GET /devices/<id>`.
    pub fn device(&self, id: &str) -> Result<DeviceInfo> {
        let body = self.expect_ok(
            "device",
            self.req(Method::GET, &format!("/devices/{id}")),
            Vec::new(),
        )?;
        parse("device", &body)
    }

    /// `GET /trails/`: whether this device's trail exists (synced).
    pub fn has_trail(&self) -> Result<bool> {
        let body = self.expect_ok("trails", self.req(Method::GET, "/trails/"), Vec::new())?;
        let v: Vec<Value> = parse("trails", &body)?;
        Ok(!v.is_empty())
    }

    /// `POST /objects/`: 409 means present, 200 gives the upload path.
    pub fn announce(&self, name: &str, sha: &str, size: u64) -> Result<Announce> {
        let what = format!("announce {sha}");
        let (status, body) = self.send_json(
            &what,
            self.req(Method::POST, "/objects/"),
            &json!({"objectname": name, "sha256sum": sha, "size": size.to_string()}),
        )?;
        match status.as_u16() {
            409 => Ok(Announce::Present),
            200 => {
                let o: ObjectInfo = parse(&what, &body)?;
                let path = signed_path(&o.signed_puturl)
                    .ok_or_else(|| Error::Answer(what, "no /local-s3 put URL".into()))?;
                Ok(Announce::Upload(path))
            }
            s => Err(Error::Status {
                what,
                status: s,
                body: String::from_utf8_lossy(&body).into(),
            }),
        }
    }

    /// `PUT` a file to a signed path on the hub's host.
    pub fn upload(&self, path: &str, file: &Path) -> Result<()> {
        let f = std::fs::File::open(file).map_err(|source| Error::Io {
            op: "open",
            path: file.into(),
            source,
        })?;
        // the file's length is the Content-Length
        f.metadata().map_err(|source| Error::Io {
            op: "stat",
            path: file.into(),
            source,
        })?;
        let what = format!("upload {}", file.display());
        let r = self
            .anonymous(Method::PUT, path)
            .header(CONTENT_TYPE, "application/json");
        success(&what, self.send_on(&what, &self.downloads, r, f)?).map(|_| ())
    }

    /// `POST /trails/` with the running state: the trail and its rev 0.
    pub fn create_trail(&self, state: &[u8]) -> Result<()> {
        let r = self
            .req(Method::POST, "/trails/")
            .header(CONTENT_TYPE, "application/json");
        self.expect_ok("create trail", r, state.to_vec())
            .map(|_| ())
    }

    /// The poll of spec §4.5: the first step not finished, if any.
    pub fn poll(&self, id: &str) -> Result<Option<Step>> {
        let path = format!("/trails/{id}/steps?{POLL_QUERY}");
        let body = self.expect_ok("poll", self.req(Method::GET, &path), Vec::new())?;
        let steps: Vec<Step> = parse("poll", &body)?;
        Ok(steps.into_iter().next())
    }

    /// `GET /trails/<id>/steps/<rev>`.
    pub fn step(&self, id: &str, rev: i64) -> Result<Step> {
        let body = self.expect_ok(
            "step",
            self.req(Method::GET, &format!("/trails/{id}/steps/{rev}")),
            Vec::new(),
        )?;
        parse("step", &body)
    }

    /// `GET /objects/<sha>`: size and signed GET URL.
    pub fn object(&self, sha: &str) -> Result<ObjectInfo> {
        let what = format!("object {sha}");
        let body = self.expect_ok(
            &what,
            self.req(Method::GET, &format!("/objects/{sha}")),
            Vec::new(),
        )?;
        parse(&what, &body)
    }

    /// Download a signed URL's blob from byte `offset` on into `out`
    /// (a `Range` request). Returns the offset the body really starts at:
    /// `offset` when the hub honoured the range, 0 when it sent it whole.
    /// `on_bytes` is called with every chunk's length.
    pub fn download(
        &self,
        url: &str,
        offset: u64,
        out: &mut dyn Write,
        on_bytes: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        use std::io::Read;
        let what = "download";
        let path = signed_path(url)
            .ok_or_else(|| Error::Answer(what.into(), format!("not a blob URL: {url}")))?;
        let mut r = self.anonymous(Method::GET, &path);
        if offset > 0 {
            r = r.header(RANGE, format!("bytes={offset}-"));
        }
        let resp = self.transmit(what, &self.downloads, r, ())?;
        let start = match resp.status().as_u16() {
            206 => offset,
            200 => 0,
            s => {
                return Err(Error::Status {
                    what: what.into(),
                    status: s,
                    body: String::new(),
                })
            }
        };
        if start == 0 && offset > 0 {
            return Ok(0);
        }
        let mut body = resp.into_body().into_reader();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = body
                .read(&mut buf)
                .map_err(|e| Error::Answer(what.into(), e.to_string()))?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n]).map_err(|source| Error::Io {
                op: "write",
                path: PathBuf::from("<download>"),
                source,
            })?;
            on_bytes(n as u64);
        }
        Ok(start)
    }

    /// `PUT /trails/<id>/steps/<rev>/progress`.
    pub fn put_progress(&self, id: &str, rev: &str, body: &Value) -> Result<()> {
        self.expect_ok_json(
            "progress",
            self.req(Method::PUT, &format!("/trails/{id}/steps/{rev}/progress")),
            body,
        )
        .map(|_| ())
    }

    /// The whole device-meta map: `PUT`, or `PATCH` where PUT is refused.
    pub fn put_device_meta(&self, id: &str, meta: &Map<String, Value>) -> Result<()> {
        let path = format!("/devices/{id}/device-meta");
        let v = Value::Object(meta.clone());
        match self.expect_ok_json("device-meta", self.req(Method::PUT, &path), &v) {
            Err(Error::Status {
                status: 404 | 405, ..
            }) => self
                .expect_ok_json("device-meta", self.req(Method::PATCH, &path), &v)
                .map(|_| ()),
            r => r.map(|_| ()),
        }
    }

    /// `GET /devices/<id>/user-meta`.
    pub fn user_meta(&self, id: &str) -> Result<Map<String, Value>> {
        let body = self.expect_ok(
            "user-meta",
            self.req(Method::GET, &format!("/devices/{id}/user-meta")),
            Vec::new(),
        )?;
        parse("user-meta", &body)
    }

    /// `POST /logs/` with a batch; the outcome follows spec §4.8.
    pub fn post_logs(&self, entries: &[Value]) -> LogOutcome {
        let r = self.req(Method::POST, "/logs/");
        match self.send_json("logs", r, &Value::Array(entries.to_vec())) {
            Ok((s, _)) if s.is_success() => LogOutcome::Sent,
            Ok((s, _)) => match s.as_u16() {
                408 | 429 | 403 => LogOutcome::RetryLater,
                400..=499 => LogOutcome::Dropped,
                _ => LogOutcome::RetryLater,
            },
            Err(_) => LogOutcome::RetryLater,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let ep = |h: &str| Endpoint {
            host: h.into(),
            port: 12365,
            ca_file: None,
            proxy: None,
            user_agent: "t".into(),
            timeout: Duration::from_secs(1),
        };
        assert_eq!(ep("http://127.0.0.1").base_url(), "http://127.0.0.1:12365");
        assert_eq!(ep("hub.example").base_url(), "https://hub.example:12365");
        assert_eq!(
            signed_path("https://h:1/local-s3/abc.def?x=1").as_deref(),
            Some("/local-s3/abc.def")
        );
        assert_eq!(signed_path("https://h/other"), None);
        assert!(POLL_QUERY.contains("%22QUEUED%22%5D%7D"));
    }
}
