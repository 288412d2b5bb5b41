//! The device side of `pvr clone`, `pvr get` and `pvr post` over the local
//! network: the `.pvrremote` protocol of the hub, served by the runtime on
//! a TCP address of the device's configuration (port 12368 by convention).
//!
//! ```text
//!  pvr ──HTTP (Bearer token)──▶ LanServer ── pv-ctrl (as the host) ──▶ runtime (single owner of state)
//!      ◀── object bytes ─────── pool files (read-only, content-addressed)
//! ```
//!
//! | request | answer |
//! |---|---|
//! | `GET [/steps/<rev>]/.pvrremote` | URLs of the protocol for `current` or `<rev>` |
//! | `GET /steps/<rev>` | the hub's step object (`rev`, `commit-msg`, `state`, `state-sha`, `progress`, …) |
//! | `GET /steps/<rev>/state` | the revision's state JSON |
//! | `GET /objects/<sha>` | object info with a signed GET URL, 404 if absent |
//! | `POST /objects/` | 409 if the device has the object, else 200; both with signed GET and PUT URLs |
//! | `GET`/`PUT /blobs/<sha>?expires=…&signature=…` | object bytes (no token needed: the URL is signed) |
//! | `POST /steps` | the envelope's state becomes `locals/pvr-<sha16>` and runs (`"run": false` to only install) |
//! | `GET /steps`, `GET /steps/<rev>/progress` | the control API's lists and progress |
//! | `POST /auth/login` | `{"password": <token>}` → `{"token": <token>}` (for pvr's login prompt) |
//! | `/cgi-bin/pvtx/<op>` | the pvtx REST API (module `pvtx_api`) |
//!
//! Paths are answered under `/cgi-bin/pvr`, `/cgi-bin` and `/`. With a
//! token configured, every call but the login and signed blob URLs needs
//! `Authorization: Bearer <token>`; otherwise 401 with a JSON error body
//! and a `WWW-Authenticate` header naming the login endpoint. Without a
//! token the endpoint is open (the original's development mode). Uploads are limited in size and in number at
//! once ([`Limits`]).

mod auth;
mod body;
mod handlers;
mod pvtx_api;
mod route;
mod server;
mod step;
mod webui;

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

pub use auth::{Token, SIGNED_URL_LIFETIME_SECS};
pub use handlers::{parse_envelope, Envelope};
pub use route::{route, NoRoute, Route};
pub use server::LanServer;

use body::RequestBody;
use handlers::{Ctx, Reply, MAX_ANNOUNCE, MAX_ENVELOPE};
use server::{RequestHead, Shared, HANDLERS};

/// The conventional port of the endpoint.
pub const DEFAULT_PORT: u16 = 12368;

/// Starting the endpoint failed.
#[derive(Debug, thiserror::Error)]
pub enum LanError {
    #[error("LAN endpoint: bad listen address {0:?} (want IP:PORT or IP)")]
    Address(String),
    #[error("LAN endpoint: {0}")]
    Token(String),
    #[error("LAN endpoint: cannot listen on {addr}: {msg}")]
    Listen { addr: String, msg: String },
    #[error("LAN endpoint: cannot start its thread: {0}")]
    Start(String),
}

/// Where and how to serve.
#[derive(Debug, Clone)]
pub struct LanConfig {
    pub listen: SocketAddr,
    /// Every call but the login and signed URLs needs it; without one the
    /// endpoint is open (as the original's), object URLs are then signed
    /// with a random secret of this run.
    pub token: Option<Token>,
    /// The control socket to forward changes to.
    pub ctrl_socket: PathBuf,
    /// The object pool (read-only here).
    pub objects: PathBuf,
    /// Reported as `trail-id`.
    pub trail_id: String,
    pub limits: Limits,
    /// Where the pvtx API keeps its transaction (`/cgi-bin/pvtx/…`).
    pub pvtx_dir: PathBuf,
    /// The logs tree (`<rev>/<container>/…`) the web page shows.
    pub logs: Option<PathBuf>,
}

/// Limits on object uploads (`PUT` of a signed URL).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest object accepted (413 above; 507 when the pool's filesystem
    /// has less room than that).
    pub max_object_size: u64,
    /// Uploads at once (503 with `Retry-After` above). Below the number of
    /// handlers that run at once, so that clones and status calls are
    /// served during uploads.
    pub max_uploads: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_object_size: 4 << 30,
            max_uploads: HANDLERS - 1,
        }
    }
}

/// Parse `IP:PORT`, `IP` (port 12368) or `:PORT` (all addresses).
pub fn parse_listen(s: &str) -> Result<SocketAddr, LanError> {
    let s = s.trim();
    let bad = || LanError::Address(s.to_string());
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = s.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, DEFAULT_PORT));
    }
    if let Some(port) = s.strip_prefix(':') {
        let port = port.parse().map_err(|_| bad())?;
        return Ok(SocketAddr::new([0, 0, 0, 0].into(), port));
    }
    Err(bad())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `http://<host>/cgi-bin/pvr`, from a Host header that looks like one.
fn base_url(host: Option<&str>, addr: SocketAddr) -> String {
    let host = host
        .filter(|h| {
            !h.is_empty()
                && h.len() < 256
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .map(String::from)
        .unwrap_or_else(|| addr.to_string());
    format!("http://{host}/cgi-bin/pvr")
}

fn read_capped(body: &mut RequestBody, cap: u64) -> Result<Vec<u8>, Reply> {
    if body.len().is_some_and(|n| n > cap) {
        return Err(Reply::error(413, "request body too large"));
    }
    let mut buf = vec![];
    body.take(cap + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Reply::error(400, format!("reading the body: {e}")))?;
    if buf.len() as u64 > cap {
        return Err(Reply::error(413, "request body too large"));
    }
    Ok(buf)
}

/// Answer one request (on a thread of the blocking pool).
fn serve(shared: &Shared, req: &RequestHead, body: &mut RequestBody) -> Reply {
    let cfg = &shared.cfg;
    let (method, target) = (req.method.as_str(), req.target.as_str());
    let base = base_url(req.host.as_deref(), shared.addr);
    let ctx = Ctx {
        token: shared.signer.clone(),
        open: cfg.token.is_none(),
        ctrl: pv_ctrl_client::Client::new(&cfg.ctrl_socket),
        objects: cfg.objects.clone(),
        trail_id: cfg.trail_id.clone(),
        base: base.clone(),
        now: now(),
        uploads: shared.uploads.clone(),
        pvtx_dir: cfg.pvtx_dir.clone(),
        ctrl_socket: cfg.ctrl_socket.clone(),
        logs: cfg.logs.clone(),
    };
    let allowed = cfg.token.as_ref().is_none_or(|t| {
        t.accepts_header(req.authorization.as_deref())
            || webui::cookie_accepted(t, req.cookie.as_deref())
    });
    tracing::debug!("LAN {method} {target}");
    let path = target.split('?').next().unwrap_or("");
    if webui::is_ui(path) {
        return webui::serve(&ctx, cfg.token.as_ref(), allowed, method, target, body);
    }
    match route::route(method, target) {
        Err(NoRoute::NotFound) => Reply::error(404, "Not Found"),
        Err(NoRoute::MethodNotAllowed) => Reply::error(405, "Method Not Allowed"),
        Ok(r) => {
            let signed = matches!(
                r,
                Route::BlobGet { .. } | Route::BlobPut { .. } | Route::Login
            );
            if !signed && !allowed {
                Reply::JsonWith(
                    401,
                    serde_json::json!({"Error": "Unauthorized: send Authorization: Bearer <token> (pvr -a TOKEN or PVR_AUTH)"}),
                    vec![(
                        "WWW-Authenticate",
                        format!("Bearer realm=\"pantavisor\", ph-aeps=\"{}/auth\"", base),
                    )],
                )
            } else {
                dispatch(&ctx, r, method, body)
            }
        }
    }
}

fn dispatch(ctx: &Ctx, r: Route, method: &str, body: &mut RequestBody) -> Reply {
    match r {
        Route::Remote { rev } => ctx.remote(&rev),
        Route::State { rev } => ctx.state(&rev),
        Route::Step { rev } => ctx.step(&rev),
        Route::Steps => ctx.forward_get("/steps"),
        Route::Progress { rev } => ctx.forward_get(&format!("/steps/{rev}/progress")),
        Route::ObjectInfo { sha } => ctx.object_get_info(&sha),
        Route::ObjectAnnounce => match read_capped(body, MAX_ANNOUNCE) {
            Ok(b) => ctx.object_announce(&b),
            Err(r) => r,
        },
        Route::BlobGet { sha, query } => ctx.blob_get(&sha, &query),
        Route::BlobPut { sha, query } => {
            let len = body.len();
            ctx.blob_put(&sha, &query, body, len)
        }
        Route::PostStep => match read_capped(body, MAX_ENVELOPE) {
            Ok(b) => ctx.post_step(&b),
            Err(r) => r,
        },
        Route::Login => match read_capped(body, MAX_ANNOUNCE) {
            Ok(b) => ctx.login(&b),
            Err(r) => r,
        },
        Route::Pvtx { op, query } => pvtx_api::serve(ctx, &op, &query, method, body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(parse_listen("0.0.0.0:12368").unwrap().port(), 12368);
        assert_eq!(
            parse_listen("127.0.0.1").unwrap().to_string(),
            "127.0.0.1:12368"
        );
        assert_eq!(parse_listen(":8080").unwrap().to_string(), "0.0.0.0:8080");
        assert_eq!(parse_listen("[::1]:9").unwrap().to_string(), "[::1]:9");
        assert!(parse_listen("device.local").is_err());
        assert!(parse_listen("1.2.3.4:x").is_err());
    }
}
