//! The server: two threads. An I/O thread runs a single-threaded tokio
//! runtime serving `pv-ctrl-log` and `pv-fd-log` and reading subscribed
//! fds; a writer thread applies every record, in arrival order, to the
//! outputs. [`LogHandle`] feeds the same queue from inside the process.

use std::collections::HashMap;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener as StdUnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use pv_fs::IoResultExt;
use tokio::sync::oneshot;

use crate::format;
use crate::platform::{CgroupResolver, PlatformResolver, PANTAVISOR_PLATFORM};
use crate::record::{LogRecord, Payload};
use crate::rotation::{self, Watermarks};
use crate::sinks::Writer;
use crate::{Level, LogConfig, LogError, Outputs, TimestampMode};

/// Name of the message socket in the run directory.
pub const CTRL_SOCKET: &str = "pv-ctrl-log";
/// Name of the fd subscription socket in the run directory.
pub const FD_SOCKET: &str = "pv-fd-log";
/// Source of the server's own messages (platform `pantavisor`).
pub const SERVER_SOURCE: &str = "logserver";
/// A partial text message is taken as complete after this much silence.
const IDLE_FLUSH: Duration = Duration::from_millis(100);
/// Read size for connections and subscribed fds.
const READ_CHUNK: usize = 64 * 1024;

type StopReply = mpsc::SyncSender<Result<Option<PathBuf>, LogError>>;

enum Event {
    Log(LogRecord),
    SetRevision(String),
    StartUpdate(String),
    StopUpdate(Option<StopReply>),
    Flush(mpsc::SyncSender<()>),
    Stop,
}

/// What the caller-side printing (`stdout_direct`, or stdout while the
/// server is down) needs.
struct DirectOut {
    outputs: Outputs,
    level: Level,
    ts_format: Option<String>,
    timestamp: TimestampMode,
}

impl DirectOut {
    fn print(&self, rec: &LogRecord) {
        let tsec = match self.timestamp {
            TimestampMode::Relative => rec.mono,
            TimestampMode::Absolute => u64::try_from(rec.time).unwrap_or(0),
        };
        let text = format::pv_lines(rec, tsec, self.ts_format.as_deref());
        let mut out = io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

type SubKey = (String, String);

struct Shared {
    tx: mpsc::Sender<Event>,
    running: AtomicBool,
    rt: tokio::runtime::Handle,
    subs: Mutex<HashMap<SubKey, (u64, tokio::task::AbortHandle)>>,
    next_sub: AtomicU64,
    stop_io: Mutex<Option<oneshot::Sender<()>>>,
    resolver: Arc<dyn PlatformResolver>,
    direct: DirectOut,
    max_message: usize,
    command_pid: Option<u32>,
}

impl Shared {
    fn send(&self, ev: Event) -> bool {
        self.tx.send(ev).is_ok()
    }

    fn note(&self, level: Level, msg: String) {
        let rec = LogRecord::now(
            level,
            PANTAVISOR_PLATFORM,
            SERVER_SOURCE,
            msg.into_bytes(),
            Payload::Line,
        );
        self.send(Event::Log(rec));
    }

    fn request_io_stop(&self) {
        if let Some(tx) = self
            .stop_io
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = tx.send(());
        }
    }

    fn subscribe(self: &Arc<Self>, platform: &str, source: &str, level: Level, fd: OwnedFd) {
        let key = (platform.to_string(), source.to_string());
        let id = self.next_sub.fetch_add(1, Ordering::Relaxed);
        let mut subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
        let task = self.rt.spawn(fds::read_subscribed_fd(
            fd,
            key.clone(),
            level,
            id,
            Arc::clone(self),
        ));
        if let Some((_, old)) = subs.insert(key, (id, task.abort_handle())) {
            old.abort();
        }
    }

    fn unsubscribe(&self, platform: &str, source: &str) -> bool {
        let key = (platform.to_string(), source.to_string());
        let removed = self
            .subs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        match removed {
            Some((_, task)) => {
                task.abort();
                true
            }
            None => false,
        }
    }

    fn forget_sub(&self, key: &SubKey, id: u64) {
        let mut subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
        if subs.get(key).is_some_and(|(cur, _)| *cur == id) {
            subs.remove(key);
        }
    }
}

mod fds;
mod handle;
mod sockets;

pub use handle::LogHandle;

/// The running log server. Stop it with [`LogServer::stop`] (dropping it
/// stops it too).
pub struct LogServer {
    handle: LogHandle,
    io: Option<JoinHandle<()>>,
    writer: Option<JoinHandle<()>>,
    sockets: [PathBuf; 2],
    watermarks: Watermarks,
}

fn bind(path: &Path) -> Result<StdUnixListener, LogError> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(pv_fs::FsError::new("remove stale socket", path, e).into()),
    }
    let l = StdUnixListener::bind(path).map_err(|source| LogError::Bind {
        path: path.to_path_buf(),
        source,
    })?;
    l.set_nonblocking(true).map_err(|source| LogError::Bind {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(l)
}

fn remove_socket(path: &Path) {
    let _ = std::fs::remove_file(path);
}

impl LogServer {
    /// Start with the default `/proc/<pid>/cgroup` platform resolver.
    pub fn start(cfg: LogConfig) -> Result<LogServer, LogError> {
        Self::start_with_resolver(cfg, Arc::new(CgroupResolver::default()))
    }

    /// Start, mapping peers to platforms with `resolver`. Binds
    /// `<rundir>/pv-ctrl-log` and `<rundir>/pv-fd-log` (replacing stale
    /// files) before returning.
    pub fn start_with_resolver(
        cfg: LogConfig,
        resolver: Arc<dyn PlatformResolver>,
    ) -> Result<LogServer, LogError> {
        std::fs::create_dir_all(&cfg.run_dir).at("create directory", &cfg.run_dir)?;
        std::fs::create_dir_all(&cfg.logs_dir).at("create directory", &cfg.logs_dir)?;
        let budget = rotation::budget_for(cfg.dir_maxsize, &rotation::probe_fs(&cfg.logs_dir));
        let watermarks = Watermarks::new(budget, cfg.hysteresis_factor, cfg.rotate_factor);

        let ctrl_path = cfg.run_dir.join(CTRL_SOCKET);
        let fd_path = cfg.run_dir.join(FD_SOCKET);
        let ctrl = bind(&ctrl_path)?;
        let fdl = match bind(&fd_path) {
            Ok(l) => l,
            Err(e) => {
                remove_socket(&ctrl_path);
                return Err(e);
            }
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(LogError::Spawn)?;

        let (tx, rx) = mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel();
        let shared = Arc::new(Shared {
            tx,
            running: AtomicBool::new(true),
            rt: rt.handle().clone(),
            subs: Mutex::new(HashMap::new()),
            next_sub: AtomicU64::new(1),
            stop_io: Mutex::new(Some(stop_tx)),
            resolver,
            direct: DirectOut {
                outputs: cfg.outputs,
                level: cfg.level,
                ts_format: cfg.stdout_timestamp_format.clone(),
                timestamp: cfg.timestamp,
            },
            max_message: cfg.max_message_size,
            command_pid: cfg.command_pid,
        });

        let writer = std::thread::Builder::new()
            .name("pv-logs-writer".into())
            .spawn(move || writer_loop(Writer::new(cfg, watermarks), rx))
            .map_err(LogError::Spawn)?;

        let io_shared = Arc::clone(&shared);
        let sockets = [ctrl_path, fd_path];
        let io_sockets = sockets.clone();
        let io = std::thread::Builder::new()
            .name("pv-logs-io".into())
            .spawn(move || {
                rt.block_on(sockets::io_main(ctrl, fdl, io_shared, stop_rx));
                drop(rt);
                io_sockets.iter().for_each(|p| remove_socket(p));
            });
        let io = match io {
            Ok(h) => h,
            Err(e) => {
                let _ = shared.tx.send(Event::Stop);
                let _ = writer.join();
                sockets.iter().for_each(|p| remove_socket(p));
                return Err(LogError::Spawn(e));
            }
        };
        Ok(LogServer {
            handle: LogHandle { shared },
            io: Some(io),
            writer: Some(writer),
            sockets,
            watermarks,
        })
    }

    /// A handle for logging and control.
    pub fn handle(&self) -> LogHandle {
        self.handle.clone()
    }

    /// Path of `pv-ctrl-log`.
    pub fn ctrl_socket(&self) -> &Path {
        &self.sockets[0]
    }

    /// Path of `pv-fd-log`.
    pub fn fd_socket(&self) -> &Path {
        &self.sockets[1]
    }

    /// The size thresholds in force.
    pub fn watermarks(&self) -> Watermarks {
        self.watermarks
    }

    /// Stop serving, write everything already queued, join both threads
    /// and remove the sockets.
    pub fn stop(mut self) -> Result<(), LogError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), LogError> {
        let shared = &self.handle.shared;
        shared.running.store(false, Ordering::SeqCst);
        shared.request_io_stop();
        let mut result = Ok(());
        if let Some(io) = self.io.take() {
            if io.join().is_err() {
                result = Err(LogError::Panicked);
            }
        }
        self.sockets.iter().for_each(|p| remove_socket(p));
        if let Some(writer) = self.writer.take() {
            let _ = shared.tx.send(Event::Stop);
            if writer.join().is_err() {
                result = Err(LogError::Panicked);
            }
        }
        result
    }
}

impl Drop for LogServer {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

fn writer_loop(mut w: Writer, rx: mpsc::Receiver<Event>) {
    for ev in rx {
        match ev {
            Event::Log(rec) => w.handle(&rec),
            Event::SetRevision(rev) => w.set_revision(rev),
            Event::StartUpdate(rev) => w.start_update(rev),
            Event::StopUpdate(reply) => {
                let r = w.stop_update().map_err(LogError::from);
                if let Some(reply) = reply {
                    let _ = reply.send(r);
                }
            }
            Event::Flush(reply) => {
                let _ = reply.send(());
            }
            Event::Stop => break,
        }
    }
}
