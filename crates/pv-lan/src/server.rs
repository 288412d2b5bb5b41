//! The server: one thread running a current-thread tokio runtime that
//! accepts TCP connections and serves HTTP/1.1 with hyper. Each request's
//! handler is blocking code (control-socket calls, files), run on the
//! runtime's blocking pool, at most [`HANDLERS`] at once; uploads take at
//! most all of them but one (see [`crate::Limits`]), so that clones and
//! status calls are served while they run.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HOST};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, Semaphore};

use crate::body::bridge;
use crate::handlers::{Reply, Uploads};
use crate::{LanConfig, LanError, Token};
use pv_http_body::ReplyBody;

/// Handlers running at once (each on a thread of the blocking pool).
pub(crate) const HANDLERS: usize = 3;
/// Threads of the blocking pool: the handlers, and room for the reads of
/// object files that answers stream.
const BLOCKING_THREADS: usize = HANDLERS + 2;
/// Connections open at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 64;
/// The largest read buffer of a connection (request heads must fit).
const CONNECTION_BUFFER: usize = 64 << 10;

/// What every request's handler shares.
pub(crate) struct Shared {
    pub cfg: LanConfig,
    /// Signs object URLs: the token, or a random secret of this run.
    pub signer: Token,
    pub uploads: Arc<Uploads>,
    /// The address bound (the base URL of a request without a usable Host).
    pub addr: SocketAddr,
    handlers: Arc<Semaphore>,
}

/// What the handlers see of a request besides its body.
pub(crate) struct RequestHead {
    pub method: String,
    /// Path and query as sent.
    pub target: String,
    pub host: Option<String>,
    pub authorization: Option<String>,
    pub cookie: Option<String>,
}

/// A running endpoint; dropping it stops it (the port is released and its
/// thread joined).
pub struct LanServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl LanServer {
    /// Bind and start serving on a thread of its own.
    pub fn start(cfg: LanConfig) -> Result<LanServer, LanError> {
        let listen_error = |e: std::io::Error| LanError::Listen {
            addr: cfg.listen.to_string(),
            msg: e.to_string(),
        };
        let listener = std::net::TcpListener::bind(cfg.listen).map_err(listen_error)?;
        listener.set_nonblocking(true).map_err(listen_error)?;
        let addr = listener.local_addr().map_err(listen_error)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .max_blocking_threads(BLOCKING_THREADS)
            .thread_name("pv-lan-handler")
            .build()
            .map_err(|e| LanError::Start(e.to_string()))?;
        let signer = match &cfg.token {
            Some(t) => t.clone(),
            None => Token::random(),
        };
        let shared = Arc::new(Shared {
            uploads: Arc::new(Uploads::new(cfg.limits)),
            cfg,
            signer,
            addr,
            handlers: Arc::new(Semaphore::new(HANDLERS)),
        });
        let (stop_tx, stop_rx) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("pv-lan".into())
            .spawn(move || {
                rt.block_on(accept_loop(listener, shared, stop_rx));
                // open connections end here; a handler still running has
                // a second to notice its connection is gone
                rt.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(|e| LanError::Start(e.to_string()))?;
        Ok(LanServer {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for LanServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn accept_loop(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("LAN endpoint: cannot listen: {e}");
            return;
        }
    };
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let place = tokio::select! {
            _ = &mut stop => break,
            p = Arc::clone(&connections).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        tokio::select! {
            _ = &mut stop => break,
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    let shared = Arc::clone(&shared);
                    tokio::spawn(async move {
                        serve_connection(stream, shared).await;
                        drop(place);
                    });
                }
                Err(e) => {
                    tracing::warn!("LAN endpoint: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |req| handle(req, Arc::clone(&shared)));
    let served = http1::Builder::new()
        .timer(TokioTimer::new())
        .title_case_headers(true)
        .max_buf_size(CONNECTION_BUFFER)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = served {
        tracing::debug!("LAN endpoint: connection: {e}");
    }
}

fn header_text(parts: &http::request::Parts, name: HeaderName) -> Option<String> {
    parts
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<ReplyBody>, Infallible> {
    let (parts, body) = req.into_parts();
    let head = RequestHead {
        method: parts.method.as_str().to_ascii_uppercase(),
        target: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string()),
        host: header_text(&parts, HOST),
        authorization: header_text(&parts, AUTHORIZATION),
        cookie: header_text(&parts, COOKIE),
    };
    let mut body = bridge(body);
    let reply = match Arc::clone(&shared.handlers).acquire_owned().await {
        Ok(place) => {
            let shared = Arc::clone(&shared);
            tokio::task::spawn_blocking(move || {
                let reply = crate::serve(&shared, &head, &mut body);
                drop(place);
                reply
            })
            .await
            .unwrap_or_else(|e| {
                tracing::error!("LAN endpoint: a handler failed: {e}");
                Reply::error(500, "Internal Error")
            })
        }
        Err(_) => Reply::error(503, "shutting down"),
    };
    Ok(response(reply))
}

fn response(reply: Reply) -> Response<ReplyBody> {
    let json = |v: serde_json::Value| ReplyBody::bytes(serde_json::to_vec(&v).unwrap_or_default());
    let (status, content_type, body, extra) = match reply {
        Reply::Json(s, v) => (s, "application/json", json(v), vec![]),
        Reply::JsonWith(s, v, extra) => (s, "application/json", json(v), extra),
        Reply::Bytes(s, ct, b) => (s, ct, ReplyBody::bytes(b), vec![]),
        Reply::BytesWith(s, ct, b, extra) => (s, ct, ReplyBody::bytes(b), extra),
        Reply::File(f, len) => (
            200,
            "application/octet-stream",
            ReplyBody::std_file(f, len),
            vec![],
        ),
    };
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = r.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    for (name, value) in extra {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            (Ok(n), Ok(v)) => {
                headers.append(n, v);
            }
            _ => tracing::warn!("LAN endpoint: header {name} left out of an answer: {value:?}"),
        }
    }
    r
}
