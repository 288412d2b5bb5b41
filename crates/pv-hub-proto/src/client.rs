//! [`HubAgent`]: the runtime's hub client. It starts the agent program
//! (`pv-hub-agent --storage DIR`, its stdin one end of a socketpair) at
//! the first call and speaks [`crate::wire`] with it; each call waits for
//! its own answer, so a long download does not hold up progress reports
//! or log pushes. The agent dies with the thread that reads its answers
//! (`PR_SET_PDEATHSIG`) and when its socket ends; a call during which it
//! died or broke the protocol fails as a communication failure, and the
//! next call starts a new agent. The bearer token and the count of
//! failed requests are kept here, so a new agent goes on with them.

use std::collections::HashMap;
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{channel, sync_channel, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::wire::{read_frame, write_frame, Call, Reply, Request};
use crate::{
    Announce, DeviceInfo, Endpoint, Error, LogOutcome, ObjectInfo, Registration, Result, Step,
};

/// The agent program's name (beside the runtime's executable).
pub const AGENT: &str = "pv-hub-agent";

/// How long a new agent may take to answer its first request (it reads
/// the platform's trust store).
const INIT_WAIT: Duration = Duration::from_secs(60);

/// A client of the hub through an agent process; cheap to clone (the
/// clones share the agent, the token and the count of failures).
#[derive(Clone)]
pub struct HubAgent {
    inner: Arc<Inner>,
}

struct Inner {
    program: PathBuf,
    endpoint: Endpoint,
    storage: PathBuf,
    base: String,
    token: Mutex<Option<String>>,
    failures: AtomicU64,
    next_id: AtomicU64,
    conn: Mutex<Option<Arc<Conn>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(c) = self.conn.get_mut().ok().and_then(Option::take) {
            c.close();
        }
    }
}

impl std::fmt::Debug for HubAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubAgent")
            .field("base", &self.inner.base)
            .field("program", &self.inner.program)
            .finish()
    }
}

/// One running agent.
struct Conn {
    writer: Mutex<UnixStream>,
    calls: Mutex<Calls>,
    pid: AtomicU32,
}

/// The calls waiting for their answer, by request id.
#[derive(Default)]
struct Calls {
    closed: bool,
    waiting: HashMap<u64, Sender<Reply>>,
}

impl Conn {
    /// End the connection: the agent reads the end of its socket and
    /// exits, the reader thread reads it too and reaps the agent; every
    /// waiting call fails.
    fn close(&self) {
        if let Ok(w) = self.writer.lock() {
            let _ = w.shutdown(Shutdown::Both);
        }
        let mut c = self.calls.lock().expect("calls");
        c.closed = true;
        c.waiting.clear();
    }

    fn is_closed(&self) -> bool {
        self.calls.lock().expect("calls").closed
    }

    /// Start `program` on a new socketpair; its answers are read by a
    /// thread of their own, which is also the agent's parent thread (the
    /// agent dies with it).
    fn start(program: &Path, storage: &Path) -> std::result::Result<Arc<Conn>, String> {
        let (ours, theirs) = UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
        let mut reader = ours.try_clone().map_err(|e| format!("socketpair: {e}"))?;
        let conn = Arc::new(Conn {
            writer: Mutex::new(ours),
            calls: Mutex::default(),
            pid: AtomicU32::new(0),
        });
        let mut cmd = Command::new(program);
        cmd.arg("--storage")
            .arg(storage)
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
            .stdout(Stdio::null());
        die_with_parent(&mut cmd);
        let (ready_tx, ready_rx) = sync_channel(1);
        let c = conn.clone();
        let what = program.display().to_string();
        std::thread::Builder::new()
            .name("hub-agent".into())
            .spawn(move || {
                let mut child: Child = match cmd.spawn() {
                    Ok(ch) => ch,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("run {what}: {e}")));
                        return;
                    }
                };
                drop(cmd);
                c.pid.store(child.id(), Ordering::Relaxed);
                let _ = ready_tx.send(Ok(()));
                while let Ok(Some(reply)) = read_frame::<Reply>(&mut reader) {
                    let id = reply.id();
                    let mut calls = c.calls.lock().expect("calls");
                    let tx = match reply {
                        Reply::Done { .. } => calls.waiting.remove(&id),
                        Reply::Progress { .. } => calls.waiting.get(&id).cloned(),
                    };
                    if let Some(tx) = tx {
                        let _ = tx.send(reply);
                    }
                }
                c.close();
                let _ = child.kill();
                let _ = child.wait();
            })
            .map_err(|e| format!("thread: {e}"))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(conn),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("the agent's thread ended".into()),
        }
    }

    /// Send `req` and wait for its end, passing on its progress; `wait`
    /// bounds the silence between two frames. The outer error: the agent
    /// did not answer (gone, broken, silent).
    fn exchange(
        &self,
        req: &Request,
        progress: &mut dyn FnMut(u64),
        wait: Option<Duration>,
    ) -> std::result::Result<(u64, Result<Value>), String> {
        let (tx, rx) = channel();
        {
            let mut c = self.calls.lock().expect("calls");
            if c.closed {
                return Err("the agent is gone".into());
            }
            c.waiting.insert(req.id, tx);
        }
        let sent = write_frame(&mut *self.writer.lock().expect("writer"), req);
        if let Err(e) = sent {
            self.close();
            return Err(format!("send: {e}"));
        }
        loop {
            let r = match wait {
                Some(d) => rx.recv_timeout(d),
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match r {
                Ok(Reply::Progress { bytes, .. }) => progress(bytes),
                Ok(Reply::Done {
                    failures, result, ..
                }) => return Ok((failures, result)),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err("the agent died or broke the protocol".into())
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.calls.lock().expect("calls").waiting.remove(&req.id);
                    return Err(format!("no answer in {:?}", wait.unwrap_or_default()));
                }
            }
        }
    }
}

/// The child gets SIGKILL when the thread that started it ends (with
/// the runtime, or once its connection is over).
#[allow(unsafe_code)]
fn die_with_parent(cmd: &mut Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: prctl and getppid are async-signal-safe; nothing is
    // allocated between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(std::io::Error::other("the runtime is gone"));
            }
            Ok(())
        });
    }
}

impl HubAgent {
    /// A client of the hub at `endpoint` through `program` (started at the
    /// first call), which may read and write files under `storage` only.
    pub fn new(program: PathBuf, endpoint: Endpoint, storage: PathBuf) -> HubAgent {
        HubAgent {
            inner: Arc::new(Inner {
                program,
                base: endpoint.base_url(),
                endpoint,
                storage,
                token: Mutex::new(None),
                failures: AtomicU64::new(0),
                next_id: AtomicU64::new(1),
                conn: Mutex::new(None),
            }),
        }
    }

    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    pub fn has_token(&self) -> bool {
        self.inner.token.lock().expect("token").is_some()
    }

    /// Forget the token (after a 401).
    pub fn drop_token(&self) {
        *self.inner.token.lock().expect("token") = None;
    }

    /// How many requests, of this client and its clones, did not get
    /// through so far: no connection, a timeout, a 5xx answer, or the
    /// agent gone during the call.
    pub fn failures(&self) -> u64 {
        self.inner.failures.load(Ordering::Relaxed)
    }

    /// The running agent's pid, if one runs.
    pub fn agent_pid(&self) -> Option<u32> {
        let slot = self.inner.conn.lock().expect("conn");
        slot.as_ref()
            .filter(|c| !c.is_closed())
            .map(|c| c.pid.load(Ordering::Relaxed))
    }

    /// Start the agent now if none runs: an error says why it cannot talk
    /// to the hub (an [`Error::Config`] the agent found in the endpoint, or
    /// an [`Error::Agent`] that did not start).
    pub fn connect(&self) -> Result<()> {
        self.connection().map(|_| ())
    }

    fn next_id(&self) -> u64 {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The running agent, or a new one that took the endpoint.
    fn connection(&self) -> Result<Arc<Conn>> {
        let mut slot = self.inner.conn.lock().expect("conn");
        if let Some(c) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        *slot = None;
        let agent = |e: String| Error::Agent("start".into(), e);
        let c = Conn::start(&self.inner.program, &self.inner.storage).map_err(agent)?;
        let init = Request {
            id: self.next_id(),
            token: None,
            call: Call::Init {
                endpoint: self.inner.endpoint.clone(),
            },
        };
        match c.exchange(&init, &mut |_| {}, Some(INIT_WAIT)) {
            Ok((_, Ok(_))) => {
                *slot = Some(c.clone());
                Ok(c)
            }
            Ok((_, Err(e))) => {
                c.close();
                Err(e)
            }
            Err(e) => {
                c.close();
                Err(agent(e))
            }
        }
    }

    /// How long a call other than a transfer may stay unanswered: the
    /// agent's own timeout covers it twice over.
    fn wait(&self) -> Duration {
        self.inner.endpoint.timeout * 2 + Duration::from_secs(30)
    }

    /// One call through the agent; requests that did not get through are
    /// counted in [`HubAgent::failures`].
    fn call(
        &self,
        what: &str,
        call: Call,
        progress: &mut dyn FnMut(u64),
        wait: Option<Duration>,
    ) -> Result<Value> {
        let count = |n: u64| self.inner.failures.fetch_add(n, Ordering::Relaxed);
        let conn = self.connection().inspect_err(|e| {
            if e.is_communication_failure() {
                count(1);
            }
        })?;
        let req = Request {
            id: self.next_id(),
            token: self.inner.token.lock().expect("token").clone(),
            call,
        };
        match conn.exchange(&req, progress, wait) {
            Ok((failures, result)) => {
                count(failures);
                result
            }
            Err(e) => {
                count(1);
                Err(Error::Agent(what.into(), e))
            }
        }
    }

    /// [`HubAgent::call`] with the usual wait, the answer as a `T`.
    fn run<T: DeserializeOwned>(&self, what: &str, call: Call) -> Result<T> {
        let v = self.call(what, call, &mut |_| {}, Some(self.wait()))?;
        serde_json::from_value(v).map_err(|e| Error::Agent(what.into(), format!("answer: {e}")))
    }

    /// `file` relative to the storage: the agent touches nothing else.
    fn in_storage(&self, op: &str, file: &Path) -> Result<String> {
        file.strip_prefix(&self.inner.storage)
            .ok()
            .and_then(Path::to_str)
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .ok_or_else(|| Error::Io {
                op: op.into(),
                path: file.into(),
                message: format!("not inside the storage {}", self.inner.storage.display()),
            })
    }

    /// `POST /devices/` without a token, with the join token if any.
    pub fn register(&self, autotok: Option<&str>) -> Result<Registration> {
        let autotok = autotok.map(str::to_string);
        self.run("register", Call::Register { autotok })
    }

    /// `POST /auth/login` with the device's prn and secret; keeps the token.
    pub fn login(&self, prn: &str, secret: &str) -> Result<()> {
        let (prn, secret) = (prn.to_string(), secret.to_string());
        let token: String = self.run("login", Call::Login { prn, secret })?;
        *self.inner.token.lock().expect("token") = Some(token);
        Ok(())
    }

    /// `GET /devices/<id>`.
    pub fn device(&self, id: &str) -> Result<DeviceInfo> {
        self.run("device", Call::Device { id: id.into() })
    }

    /// `GET /trails/`: whether this device's trail exists (synced).
    pub fn has_trail(&self) -> Result<bool> {
        self.run("trails", Call::HasTrail)
    }

    /// `POST /objects/`: 409 means present, 200 gives the upload path.
    pub fn announce(&self, name: &str, sha: &str, size: u64) -> Result<Announce> {
        let (name, sha) = (name.to_string(), sha.to_string());
        self.run("announce", Call::Announce { name, sha, size })
    }

    /// `PUT` a file of the storage to a signed path on the hub's host.
    pub fn upload(&self, path: &str, file: &Path) -> Result<()> {
        let call = Call::Upload {
            path: path.into(),
            file: self.in_storage("upload", file)?,
        };
        self.call("upload", call, &mut |_| {}, None).map(|_| ())
    }

    /// `POST /trails/` with the running state: the trail and its rev 0.
    pub fn create_trail(&self, state: &[u8]) -> Result<()> {
        let state = String::from_utf8(state.to_vec())
            .map_err(|e| Error::Answer("create trail".into(), format!("state: {e}")))?;
        self.run::<Value>("create trail", Call::CreateTrail { state })
            .map(|_| ())
    }

    /// The poll of spec §4.5: the first step not finished, if any.
    pub fn poll(&self, id: &str) -> Result<Option<Step>> {
        self.run("poll", Call::Poll { id: id.into() })
    }

    /// `GET /trails/<id>/steps/<rev>`.
    pub fn step(&self, id: &str, rev: i64) -> Result<Step> {
        self.run("step", Call::Step { id: id.into(), rev })
    }

    /// `GET /objects/<sha>`: size and signed GET URL.
    pub fn object(&self, sha: &str) -> Result<ObjectInfo> {
        self.run("object", Call::Object { sha: sha.into() })
    }

    /// Append a signed URL's blob from byte `offset` on to `file` (of the
    /// storage) with a `Range` request. Returns the offset the body really
    /// starts at: `offset` when the hub honoured the range, 0 when it sent
    /// it whole (then nothing was written). `on_bytes` is told of the
    /// bytes written as they arrive.
    pub fn download(
        &self,
        url: &str,
        offset: u64,
        file: &Path,
        on_bytes: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        let call = Call::Download {
            url: url.into(),
            offset,
            file: self.in_storage("download", file)?,
        };
        let v = self.call("download", call, on_bytes, None)?;
        serde_json::from_value(v)
            .map_err(|e| Error::Agent("download".into(), format!("answer: {e}")))
    }

    /// `PUT /trails/<id>/steps/<rev>/progress`.
    pub fn put_progress(&self, id: &str, rev: &str, body: &Value) -> Result<()> {
        let call = Call::PutProgress {
            id: id.into(),
            rev: rev.into(),
            body: body.clone(),
        };
        self.run::<Value>("progress", call).map(|_| ())
    }

    /// The whole device-meta map: `PUT`, or `PATCH` where PUT is refused.
    pub fn put_device_meta(&self, id: &str, meta: &Map<String, Value>) -> Result<()> {
        let call = Call::PutDeviceMeta {
            id: id.into(),
            meta: meta.clone(),
        };
        self.run::<Value>("device-meta", call).map(|_| ())
    }

    /// `GET /devices/<id>/user-meta`.
    pub fn user_meta(&self, id: &str) -> Result<Map<String, Value>> {
        self.run("user-meta", Call::UserMeta { id: id.into() })
    }

    /// `POST /logs/` with a batch; the outcome follows spec §4.8 (no
    /// answer, the agent's included: later).
    pub fn post_logs(&self, entries: &[Value]) -> LogOutcome {
        let call = Call::PostLogs {
            entries: entries.to_vec(),
        };
        self.run("logs", call).unwrap_or(LogOutcome::RetryLater)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(program: &Path, storage: &Path) -> HubAgent {
        HubAgent::new(
            program.into(),
            Endpoint {
                host: "http://127.0.0.1".into(),
                port: 1,
                ca_file: None,
                proxy: None,
                user_agent: "t".into(),
                timeout: Duration::from_secs(5),
            },
            storage.into(),
        )
    }

    #[test]
    fn files_outside_the_storage_are_refused_before_any_agent_runs() {
        let d = tempfile::tempdir().unwrap();
        let a = agent(&d.path().join("no-agent"), &d.path().join("storage"));
        for f in ["/etc/passwd", "storage-other/x"] {
            let e = a
                .download("http://h/local-s3/x", 0, &d.path().join(f), &mut |_| {})
                .unwrap_err();
            assert!(matches!(e, Error::Io { .. }), "{e}");
            assert!(!e.is_communication_failure());
        }
        let e = a
            .upload("/local-s3/x", &d.path().join("storage"))
            .unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
        assert_eq!(a.failures(), 0);
        assert_eq!(a.agent_pid(), None);
    }

    #[test]
    fn an_agent_that_cannot_start_fails_each_call_as_a_communication_failure() {
        let d = tempfile::tempdir().unwrap();
        let a = agent(&d.path().join("no-agent"), d.path());
        let e = a.poll("dev").unwrap_err();
        assert!(e.is_communication_failure(), "{e}");
        assert!(e.to_string().contains("no-agent"), "{e}");
        assert_eq!(a.clone().post_logs(&[]), LogOutcome::RetryLater);
        assert_eq!(a.failures(), 2);
        assert!(matches!(a.connect(), Err(Error::Agent(..))));
        assert_eq!(a.failures(), 2, "connect alone counts nothing");
    }

    /// A program that is not an agent: it reads its first request and
    /// answers garbage on its socket (stdin), then stays; the call fails
    /// at once, the next one starts it again.
    #[test]
    fn an_agent_that_breaks_the_protocol_fails_the_call_and_is_replaced() {
        let d = tempfile::tempdir().unwrap();
        let prog = d.path().join("bad-agent");
        std::fs::write(
            &prog,
            "#!/bin/sh\nhead -c 4 >/dev/null\nprintf '\\000\\000\\000\\002{x' >&0\nexec sleep 30\n",
        )
        .unwrap();
        std::fs::set_permissions(&prog, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let a = agent(&prog, d.path());
        for round in 1..=2 {
            let t = std::time::Instant::now();
            let e = a.has_trail().unwrap_err();
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "not before it exited"
            );
            assert!(matches!(e, Error::Agent(..)), "{e}");
            assert_eq!(a.failures(), round);
            assert_eq!(a.agent_pid(), None, "the broken agent is gone");
        }
    }
}
