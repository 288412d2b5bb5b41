//! The server: a thread running a single-threaded tokio runtime that
//! accepts connections on the control socket, and the queue through which
//! the runtime's owner of state answers requests.

use std::os::unix::net::UnixListener as StdUnixListener;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use http::header::{CONNECTION, CONTENT_TYPE, HOST, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use hyper::body::{Body as _, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::UnixStream;
use tokio::sync::oneshot;

use crate::caller::{Caller, CallerResolver};
use crate::error::{ApiError, CtrlError};
use crate::reply::{render, CtrlReply, Rendered, RenderedBody, OCTETS};
use crate::request::{build, Action, CtrlRequest};
use crate::routes::{match_route, Access, BodyPolicy};
use crate::sniff::{refusal, refuse, sniff, Rewind, Sniffed, UNSUPPORTED};
use crate::upload::{drain, read_capped, receive_object, Received};
use crate::{DEFAULT_MAX_STATE_JSON, SOCKET_NAME};
use pv_http_body::ReplyBody;

/// How long a new connection may take to send its request line.
const FIRST_LINE_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the server listens and what it may read or create on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtrlConfig {
    /// The socket path, normally `<rundir>/pv-ctrl`.
    pub socket: PathBuf,
    /// The object pool (`<storage>/objects`): uploads are written to temp
    /// files in it and `GET /objects/<sha>` reads from it.
    pub objects_dir: PathBuf,
    /// Largest state JSON accepted by `PUT /steps/locals/<name>` (507 above).
    pub max_state_json: usize,
}

impl CtrlConfig {
    /// Socket `<rundir>/pv-ctrl`, objects in `objects_dir`.
    pub fn new(rundir: impl AsRef<Path>, objects_dir: impl Into<PathBuf>) -> CtrlConfig {
        CtrlConfig {
            socket: rundir.as_ref().join(SOCKET_NAME),
            objects_dir: objects_dir.into(),
            max_state_json: DEFAULT_MAX_STATE_JSON,
        }
    }
}

/// A request waiting for the owner's answer. Dropping it without
/// [`Pending::reply`] answers 500.
#[derive(Debug)]
pub struct Pending {
    /// Who sent it (already allowed to: roles are checked by the server).
    pub caller: Caller,
    /// The peer pid, for logs.
    pub pid: Option<i32>,
    pub request: CtrlRequest,
    reply: oneshot::Sender<CtrlReply>,
}

impl Pending {
    /// Answer the request (a no-op if the client has gone away).
    pub fn reply(self, reply: CtrlReply) {
        let _ = self.reply.send(reply);
    }
}

/// The runtime's end: requests in arrival order. Poll it once per tick
/// with [`CtrlQueue::try_next`] until it returns `None`.
#[derive(Debug)]
pub struct CtrlQueue {
    rx: mpsc::Receiver<Pending>,
}

impl CtrlQueue {
    /// The next waiting request, if any; never blocks.
    pub fn try_next(&self) -> Option<Pending> {
        self.rx.try_recv().ok()
    }

    /// The next request, waiting at most `timeout` (for owners that sleep
    /// between ticks, and for tests).
    pub fn next_timeout(&self, timeout: Duration) -> Option<Pending> {
        self.rx.recv_timeout(timeout).ok()
    }
}

struct Shared {
    tx: mpsc::Sender<Pending>,
    resolver: Arc<dyn CallerResolver>,
    objects_dir: PathBuf,
    max_state_json: usize,
}

/// The running server. [`CtrlServer::stop`] (or dropping it) stops
/// accepting, ends open connections, joins the thread and removes the
/// socket.
#[derive(Debug)]
pub struct CtrlServer {
    socket: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

fn create_dir(path: &Path) -> Result<(), CtrlError> {
    std::fs::create_dir_all(path).map_err(|source| CtrlError::CreateDir {
        path: path.to_path_buf(),
        source,
    })
}

fn bind(path: &Path) -> Result<StdUnixListener, CtrlError> {
    let err = |source| CtrlError::Bind {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    let l = StdUnixListener::bind(path).map_err(err)?;
    l.set_nonblocking(true).map_err(err)?;
    Ok(l)
}

impl CtrlServer {
    /// Bind the socket (replacing a stale one) and start serving on a new
    /// thread. Returns once the socket accepts connections.
    pub fn start(
        cfg: CtrlConfig,
        resolver: Arc<dyn CallerResolver>,
    ) -> Result<(CtrlServer, CtrlQueue), CtrlError> {
        if let Some(dir) = cfg.socket.parent() {
            create_dir(dir)?;
        }
        create_dir(&cfg.objects_dir)?;
        let listener = bind(&cfg.socket)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(CtrlError::Spawn)?;
        let (tx, rx) = mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel();
        let shared = Arc::new(Shared {
            tx,
            resolver,
            objects_dir: cfg.objects_dir,
            max_state_json: cfg.max_state_json,
        });
        let socket = cfg.socket.clone();
        let thread = std::thread::Builder::new()
            .name("pv-ctrl".into())
            .spawn(move || {
                rt.block_on(accept_loop(listener, shared, stop_rx));
                rt.shutdown_timeout(Duration::from_secs(1));
            });
        let thread = match thread {
            Ok(t) => t,
            Err(e) => {
                let _ = std::fs::remove_file(&socket);
                return Err(CtrlError::Spawn(e));
            }
        };
        Ok((
            CtrlServer {
                socket,
                stop: Some(stop_tx),
                thread: Some(thread),
            },
            CtrlQueue { rx },
        ))
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Stop serving and remove the socket.
    pub fn stop(mut self) -> Result<(), CtrlError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), CtrlError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let mut result = Ok(());
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                result = Err(CtrlError::Panicked);
            }
        }
        let _ = std::fs::remove_file(&self.socket);
        result
    }
}

impl Drop for CtrlServer {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

async fn accept_loop(
    listener: StdUnixListener,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    let listener = match tokio::net::UnixListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("pv-ctrl: cannot listen: {e}");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = &mut stop => break,
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    tokio::spawn(serve_connection(stream, Arc::clone(&shared)));
                }
                Err(e) => {
                    tracing::warn!("pv-ctrl: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

async fn serve_connection(mut stream: UnixStream, shared: Arc<Shared>) {
    let pid = stream.peer_cred().ok().and_then(|c| c.pid());
    let prefix = match tokio::time::timeout(FIRST_LINE_TIMEOUT, sniff(&mut stream)).await {
        Ok(Ok(Sniffed::Http(prefix))) => prefix,
        Ok(Ok(Sniffed::Garbage)) => return refuse(&mut stream, UNSUPPORTED).await,
        Ok(Ok(Sniffed::BadHead(status, msg))) => {
            tracing::debug!("pv-ctrl: refused a request head: {msg}");
            return refuse(&mut stream, &refusal(status, msg)).await;
        }
        _ => return,
    };
    let io = TokioIo::new(Rewind::new(prefix, stream));
    let service = service_fn(move |req| handle(req, pid, Arc::clone(&shared)));
    let served = http1::Builder::new()
        .timer(TokioTimer::new())
        .title_case_headers(true)
        .serve_connection(io, service)
        .await;
    if let Err(e) = served {
        tracing::debug!("pv-ctrl: connection: {e}");
    }
}

fn host_allowed(headers: &HeaderMap) -> bool {
    match headers.get(HOST) {
        None => true,
        Some(v) => v.to_str().is_ok_and(|h| {
            let h = h.trim();
            h.is_empty() || h == "localhost" || h.starts_with("localhost:")
        }),
    }
}

fn response(status: u16, content_type: &'static str, body: ReplyBody) -> Response<ReplyBody> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = if status == StatusCode::NO_CONTENT {
        ReplyBody::bytes(Vec::new())
    } else {
        body
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if status.as_u16() == 422 {
        r.extensions_mut()
            .insert(hyper::ext::ReasonPhrase::from_static(
                b"Unprocessable Content",
            ));
    }
    r
}

fn error_response(e: ApiError) -> Response<ReplyBody> {
    respond_now(CtrlReply::Error(e))
}

/// Render a reply that has no file body.
fn respond_now(reply: CtrlReply) -> Response<ReplyBody> {
    bytes_response(render(reply))
}

/// A rendered reply whose body is in memory (a file body is dropped).
fn bytes_response(r: Rendered) -> Response<ReplyBody> {
    let body = match r.body {
        RenderedBody::Bytes(b) => b,
        RenderedBody::File(_) => Vec::new(),
    };
    let mut resp = response(r.status, r.content_type, ReplyBody::bytes(body));
    if let Some(secs) = r.retry_after {
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

async fn open_file(path: &Path) -> Option<(tokio::fs::File, u64)> {
    let f = tokio::fs::File::open(path).await.ok()?;
    let meta = f.metadata().await.ok()?;
    meta.is_file().then_some((f, meta.len()))
}

async fn respond(reply: CtrlReply) -> Response<ReplyBody> {
    let r = render(reply);
    let RenderedBody::File(path) = &r.body else {
        return bytes_response(r);
    };
    match open_file(path).await {
        Some((f, len)) => response(200, r.content_type, ReplyBody::file(f, len)),
        None => error_response(ApiError::resource_missing()),
    }
}

async fn forward(
    shared: &Shared,
    caller: Caller,
    pid: Option<i32>,
    request: CtrlRequest,
) -> CtrlReply {
    let (tx, rx) = oneshot::channel();
    let pending = Pending {
        caller,
        pid,
        request,
        reply: tx,
    };
    if shared.tx.send(pending).is_err() {
        return CtrlReply::Error(ApiError::internal("Internal Error"));
    }
    rx.await
        .unwrap_or_else(|_| CtrlReply::Error(ApiError::internal("Internal Error")))
}

/// An error answer after which the connection is closed (the rest of the
/// request is not read).
fn closing(e: ApiError) -> Response<ReplyBody> {
    let mut r = error_response(e);
    r.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    r
}

async fn handle(
    req: Request<Incoming>,
    pid: Option<i32>,
    shared: Arc<Shared>,
) -> Result<Response<ReplyBody>, std::convert::Infallible> {
    if !host_allowed(req.headers()) {
        return Ok(closing(ApiError::host_not_accepted()));
    }
    let (parts, mut body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let target = parts
        .uri
        .path_and_query()
        .map_or_else(|| path.clone(), |p| p.as_str().to_string());
    let m = match match_route(parts.method.as_str(), &path, &target) {
        Ok(m) => m,
        Err(e) => {
            drain(&mut body).await;
            return Ok(error_response(e));
        }
    };
    let caller = pid.map_or(Caller::Unknown, |p| shared.resolver.resolve(p));
    let refusal = match &caller {
        Caller::Unknown => Some(ApiError::unknown_caller()),
        c if m.route.access == Access::Mgmt && !c.is_privileged() => Some(ApiError::not_mgmt()),
        _ => None,
    };
    if let Some(e) = refusal {
        drain(&mut body).await;
        return Ok(error_response(e));
    }
    let cap = match m.route.body {
        BodyPolicy::Limit(n) => Some(n),
        BodyPolicy::StateJson => Some(shared.max_state_json),
        BodyPolicy::Ignore => {
            drain(&mut body).await;
            None
        }
        BodyPolicy::Object => None,
    };
    let data = match cap {
        // a declared length over the cap is refused before reading
        Some(n) if body.size_hint().lower() > n as u64 => {
            return Ok(closing(ApiError::no_space()));
        }
        Some(n) => match read_capped(&mut body, n).await {
            Ok(Some(d)) => d,
            Ok(None) => return Ok(closing(ApiError::no_space())),
            Err(()) => return Ok(error_response(ApiError::internal("Upload error"))),
        },
        None => Vec::new(),
    };
    let action = match build(&m, &data) {
        Ok(a) => a,
        Err(e) => {
            drain(&mut body).await;
            return Ok(error_response(e));
        }
    };
    Ok(match action {
        Action::Forward(request) => respond(forward(&shared, caller, pid, request).await).await,
        Action::SendObject { id } => {
            let path = shared.objects_dir.join(id.to_hex());
            match open_file(&path).await {
                Some((f, len)) => response(200, OCTETS, ReplyBody::file(f, len)),
                None => error_response(ApiError::bad_object_name()),
            }
        }
        Action::ReceiveObject { id } => {
            let name = m.params.first().copied().unwrap_or_default();
            match receive_object(&mut body, &shared.objects_dir, name, id).await {
                Ok(Received::Present) => respond_now(CtrlReply::Ok),
                Ok(Received::Stored { id, temp }) => {
                    let request = CtrlRequest::PutObject {
                        id,
                        temp_path: temp.clone(),
                    };
                    let reply = forward(&shared, caller, pid, request).await;
                    let _ = tokio::fs::remove_file(&temp).await;
                    respond(reply).await
                }
                Err(e) => error_response(e),
            }
        }
    })
}
