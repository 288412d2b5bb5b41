//! The serving side of `pv-hub-agent`: the runtime's requests
//! ([`pv_hub_proto::wire`]) read from one socket, each served on a thread
//! of its own by a [`Hub::session`] with the request's token, answered on
//! the same socket in whatever order they end. Files are named relative
//! to the storage and reached with `pv_fs::safe_join` (no `..`, no
//! symlink on the way, none at the end): the agent touches nothing else.
//! The end of the socket (the runtime is gone) ends the agent.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pv_hub_proto::wire::{read_frame, write_frame, Call, Reply, Request};
use pv_hub_proto::Error as WireError;
use serde::Serialize;
use serde_json::Value;

use crate::Hub;

/// Progress of a download is sent at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(50);

type Writer = Arc<Mutex<UnixStream>>;

fn send(w: &Writer, reply: &Reply) {
    // a runtime that went away: the read side ends the agent
    let _ = write_frame(&mut *w.lock().expect("writer"), reply);
}

/// Answer call `id` with `result`, `failures` requests having failed.
fn done(w: &Writer, id: u64, failures: u64, result: Result<Value, WireError>) {
    send(
        w,
        &Reply::Done {
            id,
            failures,
            result,
        },
    );
}

/// Serve the requests read from `sock` until it ends; file paths are
/// relative to `storage`. An error: the socket broke or sent garbage.
pub fn serve(sock: UnixStream, storage: &Path) -> std::io::Result<()> {
    let mut reader = sock.try_clone()?;
    let writer: Writer = Arc::new(Mutex::new(sock));
    let mut hub: Option<Hub> = None;
    while let Some(Request { id, token, call }) = read_frame::<Request>(&mut reader)? {
        let call = match call {
            Call::Init { endpoint } => {
                let result = Hub::new(&endpoint).map(|h| {
                    hub = Some(h);
                    Value::Null
                });
                done(&writer, id, 0, result.map_err(WireError::from));
                continue;
            }
            call => call,
        };
        let Some(h) = hub.as_ref().map(|h| h.session(token)) else {
            let e = WireError::Config("agent".into(), "no Init request first".into());
            done(&writer, id, 0, Err(e));
            continue;
        };
        let (w, storage) = (writer.clone(), storage.to_path_buf());
        let spawned = std::thread::Builder::new()
            .name(format!("call-{id}"))
            .spawn(move || {
                let mut progress = Progress {
                    w: &w,
                    id,
                    pending: 0,
                    last: None,
                };
                let result = serve_call(&h, &storage, call, &mut |n| progress.add(n));
                progress.flush();
                done(&w, id, h.failures(), result);
            });
        if let Err(e) = spawned {
            let e = WireError::Agent("call".into(), format!("thread: {e}"));
            done(&writer, id, 0, Err(e));
        }
    }
    Ok(())
}

/// The bytes of a download, reported in batches.
struct Progress<'a> {
    w: &'a Writer,
    id: u64,
    pending: u64,
    /// When bytes were last told (the first are told at once).
    last: Option<Instant>,
}

impl Progress<'_> {
    fn add(&mut self, n: u64) {
        self.pending += n;
        if self.last.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY) {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.pending > 0 {
            let bytes = std::mem::take(&mut self.pending);
            send(self.w, &Reply::Progress { id: self.id, bytes });
            self.last = Some(Instant::now());
        }
    }
}

fn json<T: Serialize>(v: T) -> Result<Value, WireError> {
    Ok(serde_json::to_value(v).expect("answers serialise"))
}

/// `rel` under `storage`, refused when it leaves it or ends in a symlink.
fn file_in(storage: &Path, op: &str, rel: &str) -> Result<PathBuf, WireError> {
    let bad = |message: String| WireError::Io {
        op: op.into(),
        path: storage.join(rel),
        message,
    };
    let p = pv_fs::safe_join(storage, rel).map_err(|e| bad(e.to_string()))?;
    if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(bad("a symlink".into()));
    }
    Ok(p)
}

fn open(p: &Path, op: &str, opts: &mut OpenOptions) -> Result<File, WireError> {
    opts.custom_flags(libc::O_NOFOLLOW)
        .open(p)
        .map_err(|e| WireError::Io {
            op: op.into(),
            path: p.into(),
            message: e.to_string(),
        })
}

fn serve_call(
    h: &Hub,
    storage: &Path,
    call: Call,
    on_bytes: &mut dyn FnMut(u64),
) -> Result<Value, WireError> {
    match call {
        Call::Init { .. } => Err(WireError::Config("agent".into(), "a second Init".into())),
        Call::Register { autotok } => json(h.register(autotok.as_deref())?),
        Call::Login { prn, secret } => {
            h.login(&prn, &secret)?;
            json(h.token())
        }
        Call::Device { id } => json(h.device(&id)?),
        Call::HasTrail => json(h.has_trail()?),
        Call::Announce { name, sha, size } => json(h.announce(&name, &sha, size)?),
        Call::Upload { path, file } => {
            let f = file_in(storage, "upload", &file)?;
            open(&f, "open", OpenOptions::new().read(true))?;
            json(h.upload(&path, &f)?)
        }
        Call::CreateTrail { state } => json(h.create_trail(state.as_bytes())?),
        Call::Poll { id } => json(h.poll(&id)?),
        Call::Step { id, rev } => json(h.step(&id, rev)?),
        Call::Object { sha } => json(h.object(&sha)?),
        Call::Download { url, offset, file } => {
            let p = file_in(storage, "download", &file)?;
            let mut f = open(&p, "open", OpenOptions::new().create(true).append(true))?;
            json(h.download(&url, offset, &mut f, on_bytes)?)
        }
        Call::PutProgress { id, rev, body } => json(h.put_progress(&id, &rev, &body)?),
        Call::PutDeviceMeta { id, meta } => json(h.put_device_meta(&id, &meta)?),
        Call::UserMeta { id } => json(h.user_meta(&id)?),
        Call::PostLogs { entries } => json(h.post_logs(&entries)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pv_hub_proto::Endpoint;

    fn request(w: &mut UnixStream, id: u64, call: Call) -> Reply {
        write_frame(
            w,
            &Request {
                id,
                token: None,
                call,
            },
        )
        .unwrap();
        read_frame::<Reply>(w).unwrap().unwrap()
    }

    /// The agent in-process over a socketpair: the endpoint first, files
    /// outside the storage refused before any request leaves.
    #[test]
    fn serves_in_order_of_the_protocol_and_keeps_to_the_storage() {
        let d = tempfile::tempdir().unwrap();
        let storage = d.path().join("storage");
        std::fs::create_dir_all(storage.join("cache")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", storage.join("cache/link")).unwrap();
        let (mut ours, theirs) = UnixStream::pair().unwrap();
        let s = storage.clone();
        let t = std::thread::spawn(move || serve(theirs, &s));
        let r = request(&mut ours, 1, Call::HasTrail);
        assert!(
            matches!(
                &r,
                Reply::Done {
                    result: Err(WireError::Config(..)),
                    ..
                }
            ),
            "{r:?}"
        );
        let endpoint = Endpoint {
            host: "http://127.0.0.1".into(),
            port: pv_testkit::free_port(),
            ca_file: None,
            proxy: None,
            user_agent: "t".into(),
            timeout: Duration::from_secs(5),
        };
        let r = request(&mut ours, 2, Call::Init { endpoint });
        assert_eq!(
            r,
            Reply::Done {
                id: 2,
                failures: 0,
                result: Ok(Value::Null)
            }
        );
        for (id, file) in [(3, "../x"), (4, "/etc/passwd"), (5, "cache/link")] {
            let call = Call::Download {
                url: "http://127.0.0.1/local-s3/x".into(),
                offset: 0,
                file: file.into(),
            };
            let r = request(&mut ours, id, call);
            let Reply::Done {
                failures: 0,
                result: Err(WireError::Io { .. }),
                ..
            } = r
            else {
                panic!("{file}: {r:?}");
            };
            let call = Call::Upload {
                path: "/local-s3/x".into(),
                file: file.into(),
            };
            let r = request(&mut ours, id, call);
            assert!(
                matches!(
                    r,
                    Reply::Done {
                        result: Err(WireError::Io { .. }),
                        ..
                    }
                ),
                "{r:?}"
            );
        }
        assert!(!d.path().join("x").exists());
        // nobody listens: a communication failure, counted for the call
        let r = request(&mut ours, 6, Call::Poll { id: "dev".into() });
        let Reply::Done {
            id: 6,
            failures: 1,
            result: Err(e),
        } = r
        else {
            panic!("{r:?}")
        };
        assert!(e.is_communication_failure(), "{e}");
        drop(ours);
        t.join().unwrap().unwrap();
    }
}
