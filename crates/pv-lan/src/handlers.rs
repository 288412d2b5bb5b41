//! One function per route. Reads of object bytes come straight from the
//! pool (immutable files named by their hash); everything that changes the
//! device goes through the control socket as the host would send it, so the
//! runtime's single owner of state validates and applies it.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use pv_ctrl_client::{Body, Client};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::auth::Token;
use crate::route::is_sha;
use crate::Limits;

/// Largest posted envelope (state JSON included).
pub const MAX_ENVELOPE: u64 = 16 << 20;
/// Largest object announcement.
pub const MAX_ANNOUNCE: u64 = 64 << 10;

/// What a handler answers.
pub enum Reply {
    Json(u16, Value),
    /// Raw bytes with a content type.
    Bytes(u16, &'static str, Vec<u8>),
    /// An object file.
    File(File, u64),
    /// A JSON answer with extra headers.
    JsonWith(u16, Value, Vec<(&'static str, String)>),
    /// Raw bytes with a content type and extra headers (the web page).
    BytesWith(u16, &'static str, Vec<u8>, Vec<(&'static str, String)>),
}

impl Reply {
    pub fn error(status: u16, msg: impl Into<String>) -> Reply {
        Reply::Json(status, json!({ "Error": msg.into() }))
    }
}

/// Everything the handlers need.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Signs object URLs (the configured token, or a random secret).
    pub token: Token,
    /// No token is configured: every call is allowed.
    pub open: bool,
    pub ctrl: Client,
    pub objects: PathBuf,
    /// Reported as `trail-id` (the device id, or `local`).
    pub trail_id: String,
    /// `http://<host>/cgi-bin/pvr`, from the request's Host header.
    pub base: String,
    pub now: u64,
    /// Upload size and concurrency limits, shared by all handlers.
    pub uploads: Arc<Uploads>,
    /// The pvtx API's transaction directory.
    pub pvtx_dir: PathBuf,
    pub ctrl_socket: PathBuf,
    /// The logs tree, for the web page.
    pub logs: Option<PathBuf>,
}

/// The limits on object uploads: how large one may be and how many may
/// run at once (each holds one of the endpoint's few handler places).
#[derive(Debug)]
pub struct Uploads {
    limits: Limits,
    running: AtomicUsize,
}

/// One upload in progress; dropping it frees its place.
pub struct UploadSlot<'a>(&'a AtomicUsize);

impl Drop for UploadSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Uploads {
    pub fn new(limits: Limits) -> Uploads {
        Uploads {
            limits,
            running: AtomicUsize::new(0),
        }
    }

    /// The largest object (or pvtx package) accepted.
    pub(crate) fn max_object_size(&self) -> u64 {
        self.limits.max_object_size
    }

    /// A place for one more upload, if fewer than the limit run.
    pub(crate) fn enter(&self) -> Option<UploadSlot<'_>> {
        let max = self.limits.max_uploads;
        self.running
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| UploadSlot(&self.running))
    }
}

fn ctrl_error(what: &str, e: impl std::fmt::Display) -> Reply {
    Reply::error(502, format!("{what}: control socket: {e}"))
}

/// The message of a control-socket error body (`{"Error":"…"}`, or the text).
fn ctrl_message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("Error").and_then(Value::as_str).map(String::from))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string())
}

/// Map a control-socket answer that is not 200 to ours (same status, the
/// control API's message).
pub(crate) fn passthrough(status: u16, body: &[u8]) -> Reply {
    Reply::error(status, ctrl_message(body))
}

impl Ctx {
    pub(crate) fn call(
        &self,
        method: &str,
        path: &str,
        body: Body<'_>,
    ) -> Result<(u16, Vec<u8>), Reply> {
        self.ctrl
            .call(method, path, body, Some("application/json"))
            .map(|(h, b)| (h.status, b))
            .map_err(|e| ctrl_error(path, e))
    }

    /// `GET .pvrremote` for a revision.
    pub fn remote(&self, rev: &str) -> Reply {
        let step = format!("{}/steps/{rev}", self.base);
        Reply::Json(
            200,
            json!({
                "pvr-spec": "pvr-pantahub-1",
                "json-get-url": format!("{step}/state"),
                "json-key": "state",
                "objects-endpoint": format!("{}/objects", self.base),
                "post-url": format!("{}/steps", self.base),
                "post-fields": ["commit-msg"],
                "post-fields-opt": ["rev"],
                "step-get-url": step,
            }),
        )
    }

    /// `GET /steps/<rev>/state`: the state JSON as the device stores it.
    pub fn state(&self, rev: &str) -> Reply {
        match self.call("GET", &format!("/steps/{rev}"), Body::None) {
            Ok((200, b)) => Reply::Bytes(200, "application/json", b),
            Ok((s, b)) => passthrough(s, &b),
            Err(r) => r,
        }
    }

    /// `GET /steps` and `GET /steps/<rev>/progress`: the control API's answer.
    pub fn forward_get(&self, path: &str) -> Reply {
        match self.call("GET", path, Body::None) {
            Ok((200, b)) => Reply::Bytes(200, "application/json", b),
            Ok((s, b)) => passthrough(s, &b),
            Err(r) => r,
        }
    }

    fn object_file(&self, sha: &str) -> Option<(File, u64)> {
        let f = File::open(self.objects.join(sha)).ok()?;
        let len = f.metadata().ok().filter(|m| m.is_file())?.len();
        Some((f, len))
    }

    /// The hub's ObjectWithAccess: both URLs are signed in every answer
    /// (200 and 409 alike), since the device's caller owns every object;
    /// `pvr post -f` re-uploads to the PUT URL of a 409.
    fn object_info(&self, sha: &str, name: &str, size: u64) -> Value {
        let url = |m: &str| {
            format!(
                "{}/blobs/{sha}?{}",
                self.base,
                self.token.sign(m, sha, self.now)
            )
        };
        json!({
            "id": sha,
            "storage-id": sha,
            "owner": self.trail_id,
            "objectname": name,
            "sha256sum": sha,
            "size": size.to_string(),
            "sizeint": size,
            "mime-type": "application/octet-stream",
            "signed-puturl": url("PUT"),
            "signed-geturl": url("GET"),
            "now": self.now.to_string(),
            "expire-time": (self.now + crate::auth::SIGNED_URL_LIFETIME_SECS).to_string(),
        })
    }

    /// `GET /objects/<sha>`: where to download an object from.
    pub fn object_get_info(&self, sha: &str) -> Reply {
        match self.object_file(sha) {
            Some((_, len)) => Reply::JsonWith(
                200,
                self.object_info(sha, sha, len),
                vec![("Pantahub-Object-Type", "object".into())],
            ),
            None => Reply::error(404, "Not Found"),
        }
    }

    /// `POST /objects`: 409 if the device has it, else where to upload it.
    pub fn object_announce(&self, body: &[u8]) -> Reply {
        let v: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return Reply::error(400, format!("bad object announcement: {e}")),
        };
        let sha = v.get("sha256sum").and_then(Value::as_str).unwrap_or("");
        if !is_sha(sha) {
            return Reply::error(400, "sha256sum must be a lowercase hex sha256");
        }
        if let Some(id) = v.get("id").and_then(Value::as_str) {
            if !id.is_empty() && id != sha {
                return Reply::error(400, "id must equal sha256sum");
            }
        }
        let name = v.get("objectname").and_then(Value::as_str).unwrap_or(sha);
        let size = v
            .get("size")
            .and_then(|s| {
                s.as_str()
                    .map(String::from)
                    .or_else(|| s.as_u64().map(|n| n.to_string()))
            })
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        if let Some((_, len)) = self.object_file(sha) {
            return Reply::JsonWith(
                409,
                self.object_info(sha, name, len),
                vec![("Pantahub-Object-Type", "object".into())],
            );
        }
        Reply::Json(200, self.object_info(sha, name, size))
    }

    /// `GET /blobs/<sha>` with a valid signature.
    pub fn blob_get(&self, sha: &str, query: &str) -> Reply {
        if !self.token.verify("GET", sha, query, self.now) {
            return Reply::error(403, "invalid or expired signature");
        }
        match self.object_file(sha) {
            Some((f, len)) => Reply::File(f, len),
            None => Reply::error(404, "Not Found"),
        }
    }

    /// `PUT /blobs/<sha>` with a valid signature: the bytes go to the
    /// control socket's `PUT /objects/<sha>`, which checks the hash.
    pub fn blob_put(&self, sha: &str, query: &str, body: &mut dyn Read, len: Option<u64>) -> Reply {
        if !self.token.verify("PUT", sha, query, self.now) {
            return Reply::error(403, "invalid or expired signature");
        }
        let Some(len) = len else {
            return Reply::error(411, "Content-Length required");
        };
        let max = self.uploads.limits.max_object_size;
        if len > max {
            return Reply::error(
                413,
                format!("object of {len} bytes is over the limit of {max}"),
            );
        }
        if let Some(free) = free_space(&self.objects) {
            if len > free {
                return Reply::error(
                    507,
                    format!("object of {len} bytes does not fit in the {free} bytes free"),
                );
            }
        }
        let Some(_slot) = self.uploads.enter() else {
            return Reply::JsonWith(
                503,
                json!({ "Error": format!("too many uploads at once (at most {}); retry", self.uploads.limits.max_uploads) }),
                vec![("Retry-After", "1".into())],
            );
        };
        match self.call("PUT", &format!("/objects/{sha}"), Body::Reader(body, len)) {
            Ok((200, _)) => Reply::Json(200, json!({ "sha256sum": sha, "size": len.to_string() })),
            Ok((s, b)) => passthrough(s, &b),
            Err(r) => r,
        }
    }

    /// `POST /auth/login`: `{"username":…,"password":<token>}` → `{"token":…}`.
    pub fn login(&self, body: &[u8]) -> Reply {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let pass = v.get("password").and_then(Value::as_str).unwrap_or("");
        if self.open || self.token.accepts_secret(pass) {
            Reply::Json(200, json!({ "token": self.token.secret() }))
        } else {
            Reply::error(401, "Invalid credentials")
        }
    }

    /// `POST /steps`: install the posted state as `locals/<name>` and, unless
    /// the envelope says `"run": false`, run it.
    pub fn post_step(&self, body: &[u8]) -> Reply {
        let env = match parse_envelope(body) {
            Ok(e) => e,
            Err(msg) => return Reply::error(400, msg),
        };
        let rev = format!("locals/{}", env.local_name());
        // Re-posting the same state reuses the revision (it may be running).
        let existing = self.call("GET", &format!("/steps/{rev}"), Body::None);
        let same = matches!(&existing, Ok((200, b)) if canonical_sha(b).as_deref() == Some(env.state_sha.as_str()));
        if !same {
            match self.call("PUT", &format!("/steps/{rev}"), Body::Bytes(&env.state)) {
                Ok((200, _)) => {}
                Ok((s, b)) => return passthrough(s, &b),
                Err(r) => return r,
            }
        }
        if !env.commit_msg.is_empty() {
            let msg = env.commit_msg.as_bytes();
            let msg = &msg[..msg.len().min(256)];
            if let Ok((s, b)) =
                self.call("PUT", &format!("/steps/{rev}/commitmsg"), Body::Bytes(msg))
            {
                if s != 200 {
                    tracing::warn!(
                        "LAN post: commit message of {rev} not saved: {}",
                        String::from_utf8_lossy(&b)
                    );
                }
            }
        }
        let mut out = Map::new();
        if env.run {
            let cmd = json!({"op": "LOCAL_RUN", "payload": rev}).to_string();
            let refused = match self.ctrl.call(
                "POST",
                "/commands",
                Body::Bytes(cmd.as_bytes()),
                Some("application/json"),
            ) {
                Ok((h, _)) if h.status == 200 => None,
                Ok((_, b)) => Some(ctrl_message(&b)),
                Err(e) => Some(format!("control socket: {e}")),
            };
            match refused {
                None => tracing::info!("LAN post: running {rev}"),
                Some(msg) => {
                    tracing::warn!("LAN post: {rev} not run: {msg}");
                    out.insert("run-error".into(), json!(msg));
                }
            }
        }
        let progress = match self.call("GET", &format!("/steps/{rev}/progress"), Body::None) {
            Ok((200, b)) => serde_json::from_slice(&b).unwrap_or(json!({})),
            _ => json!({}),
        };
        out.insert("id".into(), json!(format!("{}-{rev}", self.trail_id)));
        out.insert("trail-id".into(), json!(self.trail_id));
        out.insert("rev".into(), json!(-1));
        out.insert("revlocal".into(), json!(rev));
        out.insert("commit-msg".into(), json!(env.commit_msg));
        out.insert("state-sha".into(), json!(env.state_sha));
        out.insert("progress".into(), progress);
        Reply::Json(200, Value::Object(out))
    }
}

/// Bytes available to unprivileged writers on the pool's filesystem.
fn free_space(dir: &Path) -> Option<u64> {
    let st = rustix::fs::statvfs(dir).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// A parsed `POST /steps` body.
#[derive(Debug)]
pub struct Envelope {
    /// The state in canonical JSON.
    pub state: Vec<u8>,
    pub state_sha: String,
    pub commit_msg: String,
    pub run: bool,
}

impl Envelope {
    /// The local revision name: stable for one state, so that posting the
    /// same state twice reuses it.
    pub fn local_name(&self) -> String {
        format!("pvr-{}", &self.state_sha[..16])
    }
}

fn canonical_sha(json: &[u8]) -> Option<String> {
    let v = pv_json::parse(json).ok()?;
    Some(hex::encode(Sha256::digest(pv_json::to_canonical(&v))))
}

/// Parse and check a posted envelope: `{"state":{…},"commit-msg":…,"rev":…,"run":…}`.
pub fn parse_envelope(body: &[u8]) -> Result<Envelope, String> {
    let v = pv_json::parse(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let obj = v.as_object().ok_or("body must be a JSON object")?;
    let state = obj.get("state").ok_or("body has no \"state\"")?;
    let Value::Object(map) = state else {
        return Err("\"state\" must be a JSON object".into());
    };
    let st = pv_types::State::from_map(map.clone());
    st.validate_structure()
        .map_err(|r| format!("bad state: {r}"))?;
    let canonical = st.to_canonical();
    let commit_msg = match obj.get("commit-msg") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err("\"commit-msg\" must be a string".into()),
    };
    let run = match obj.get("run") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("\"run\" must be true or false".into()),
    };
    let state_sha = hex::encode(Sha256::digest(&canonical));
    debug_assert!(pv_types::check_local_name(&format!("pvr-{}", &state_sha[..16])).is_ok());
    Ok(Envelope {
        state: canonical,
        state_sha,
        commit_msg,
        run,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes() {
        let e = parse_envelope(
            br##"{"commit-msg":"add app","rev":-1,"state":{"#spec":"pantavisor-service-system@1","b.json":{"x":1},"a":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}}"##,
        )
        .unwrap();
        assert!(e.run);
        assert_eq!(e.commit_msg, "add app");
        assert!(e.state.starts_with(br##"{"#spec""##));
        assert_eq!(e.local_name().len(), 20);
        let again = parse_envelope(
            br##"{"run":false,"state":{"a":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","b.json":{"x":1},"#spec":"pantavisor-service-system@1"}}"##,
        )
        .unwrap();
        assert!(!again.run);
        assert_eq!(again.state_sha, e.state_sha, "same state, any key order");
        for bad in [
            &b"[]"[..],
            b"{}",
            br#"{"state":[]}"#,
            br##"{"state":{"#spec":"x"},"run":"yes"}"##,
            br##"{"state":{"#spec":"x"},"commit-msg":3}"##,
            b"not json",
        ] {
            assert!(
                parse_envelope(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
