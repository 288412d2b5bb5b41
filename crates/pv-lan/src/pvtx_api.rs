//! The pvtx REST API (`/cgi-bin/pvtx/…`): the transaction commands of
//! `pvtx` over HTTP, with the bodies and answers of the seed's "PVTX REST
//! API" chapter. One remote transaction per device, kept in the
//! endpoint's transaction directory (`pv_tx`, which serializes the
//! workers); changes reach the device through the control socket.
//!
//! | call | answer |
//! |---|---|
//! | `POST begin[?empty=true]` | the state (the running revision, or empty); 409 `{"error","transaction"}` if one is active |
//! | `PUT add` (body: a package) | the merged state |
//! | `PUT remove?part=P` | the state without `P` |
//! | `POST abort` | `{}` |
//! | `GET show` | the state; 400 `{"error":"No active transaction.","transaction":null}` |
//! | `POST commit` | `{"revision":"locals/pvtx-…"}` |
//! | `POST run?rev=R` | `LOCAL_RUN R`, then R's progress |
//! | `GET status[?rev=R]` | `{"rev":R,"progress":{…}}` (default: the running revision) |
//! | `GET get-config` | `{"device":{device-meta},"user":{user-meta}}` |
//! | `POST usermeta/save?key=K` (body: the value) | the user metadata |
//! | `PUT usermeta/delete?key=K` | the user metadata |
//!
//! Errors are `{"error":"…"}`: 400 for what the request got wrong, 502
//! when the control socket failed, its own status when it refused.

use std::io::Read;

use pv_ctrl_client::Body;
use pv_tx::{Base, Options, Pvtx, TxError};
use serde_json::{json, Map, Value};
use tiny_http::Request;

use crate::handlers::{Ctx, Reply};

/// The operations, as they follow `/cgi-bin/pvtx/`.
pub const OPS: [&str; 11] = [
    "begin",
    "add",
    "remove",
    "abort",
    "show",
    "commit",
    "run",
    "status",
    "get-config",
    "usermeta/save",
    "usermeta/delete",
];

/// Largest user metadata value (the control socket's limit).
const MAX_META: u64 = 4096;

fn methods(op: &str) -> &'static [&'static str] {
    match op {
        "show" | "status" | "get-config" => &["GET"],
        "begin" | "abort" | "commit" | "run" => &["POST", "PUT"],
        "add" | "usermeta/save" => &["PUT", "POST"],
        _ => &["PUT", "POST", "DELETE"],
    }
}

fn error(status: u16, msg: impl Into<String>) -> Reply {
    Reply::Json(status, json!({ "error": msg.into() }))
}

fn no_transaction(msg: &str) -> Reply {
    Reply::Json(400, json!({ "error": msg, "transaction": null }))
}

const NO_TX: &str = "No active transaction. Start a transaction first.";

fn tx_error(e: TxError) -> Reply {
    match e {
        TxError::NoTransaction => no_transaction(NO_TX),
        TxError::Ctrl(m) => error(502, m),
        TxError::Fs(_) | TxError::Objects(_) | TxError::Record { .. } => error(500, e.to_string()),
        other => error(400, other.to_string()),
    }
}

fn state_reply(s: &pv_types::State) -> Reply {
    Reply::Bytes(200, "application/json", s.to_canonical())
}

/// `%XX` and `+` of a query value decoded; `None` if not UTF-8.
fn decode(v: &str) -> Option<String> {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The value of `name` in a query string.
fn param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|p| p.split_once('=').or(Some((p, ""))))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| decode(v))
}

/// Serve `/cgi-bin/pvtx/<op>`.
pub fn serve(ctx: &Ctx, op: &str, query: &str, req: &mut Request) -> Reply {
    let method = req.method().as_str().to_ascii_uppercase();
    if !methods(op).contains(&method.as_str()) {
        return error(405, format!("{op}: use {}", methods(op).join(" or ")));
    }
    let mut opts = Options::new(&ctx.pvtx_dir);
    opts.socket = Some(ctx.ctrl_socket.clone());
    let pvtx = Pvtx::new(opts);
    match op {
        "begin" => begin(&pvtx, param(query, "empty").as_deref() == Some("true")),
        "add" => add(ctx, &pvtx, req),
        "remove" => match param(query, "part").filter(|p| !p.is_empty()) {
            None => error(400, "remove needs ?part=<part>"),
            Some(p) => pvtx.remove(&p).map_or_else(tx_error, |s| state_reply(&s)),
        },
        "abort" => match pvtx.abort() {
            Ok(true) => Reply::Json(200, json!({})),
            Ok(false) => no_transaction(NO_TX),
            Err(e) => tx_error(e),
        },
        "show" => match pvtx.show() {
            Ok(s) => state_reply(&s),
            Err(TxError::NoTransaction) => no_transaction("No active transaction."),
            Err(e) => tx_error(e),
        },
        "commit" => match pvtx.commit() {
            Ok(rev) => Reply::Json(200, json!({ "revision": rev })),
            Err(e) => tx_error(e),
        },
        "run" => run(ctx, param(query, "rev")),
        "status" => status(ctx, param(query, "rev")),
        "get-config" => get_config(ctx),
        "usermeta/save" => usermeta(ctx, param(query, "key"), Some(req)),
        "usermeta/delete" => usermeta(ctx, param(query, "key"), None),
        _ => error(404, "Not Found"),
    }
}

fn begin(pvtx: &Pvtx, empty: bool) -> Reply {
    let base = if empty { Base::Empty } else { Base::Current };
    match pvtx.begin(&base, None) {
        Ok(s) => state_reply(&s),
        Err(TxError::InProgress) => Reply::Json(
            409,
            json!({
                "error": "A transaction is already in progress: commit or abort it first.",
                "transaction": pvtx.show().ok().map(|s| Value::Object(s.into_map())),
            }),
        ),
        Err(e) => tx_error(e),
    }
}

/// The body is streamed into the transaction: objects reach the device as
/// they are read, each checked against its name.
fn add(ctx: &Ctx, pvtx: &Pvtx, req: &mut Request) -> Reply {
    let max = ctx.uploads_limit();
    if req.body_length().is_some_and(|n| n as u64 > max) {
        return error(413, format!("a package of more than {max} bytes"));
    }
    let Some(_slot) = ctx.uploads.enter() else {
        return Reply::JsonWith(
            503,
            json!({ "error": "too many uploads at once; retry" }),
            vec![("Retry-After", "1".into())],
        );
    };
    let body = req.as_reader().take(max);
    pvtx.add_reader(body, "the request body")
        .map_or_else(tx_error, |s| state_reply(&s))
}

impl Ctx {
    fn uploads_limit(&self) -> u64 {
        self.uploads.max_object_size()
    }

    fn ctrl_json(&self, path: &str) -> Result<Value, Reply> {
        match self.call("GET", path, Body::None)? {
            (200, b) => serde_json::from_slice(&b).map_err(|e| {
                error(
                    502,
                    format!("{path}: bad answer from the control socket: {e}"),
                )
            }),
            (s, b) => Err(ctrl_refused(s, &b)),
        }
    }
}

fn ctrl_refused(status: u16, body: &[u8]) -> Reply {
    let msg = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("Error").and_then(Value::as_str).map(String::from))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
    error(status, msg)
}

fn check_rev(rev: &str) -> Result<(), Reply> {
    pv_types::check_revision(rev).map_err(|e| error(400, format!("rev {rev:?}: {e}")))
}

fn run(ctx: &Ctx, rev: Option<String>) -> Reply {
    let Some(rev) = rev.filter(|r| !r.is_empty()) else {
        return error(400, "run needs ?rev=<revision>");
    };
    if let Err(r) = check_rev(&rev) {
        return r;
    }
    let cmd = json!({"op": "LOCAL_RUN", "payload": rev}).to_string();
    match ctx.call("POST", "/commands", Body::Bytes(cmd.as_bytes())) {
        Ok((200, _)) => {}
        Ok((s, b)) => return ctrl_refused(s, &b),
        Err(r) => return r,
    }
    match ctx.ctrl_json(&format!("/steps/{rev}/progress")) {
        Ok(p) => Reply::Json(200, p),
        Err(r) => r,
    }
}

fn status(ctx: &Ctx, rev: Option<String>) -> Reply {
    let rev = match rev.filter(|r| !r.is_empty() && r != "current") {
        Some(r) => {
            if let Err(e) = check_rev(&r) {
                return e;
            }
            r
        }
        None => match ctx.ctrl_json("/device-meta") {
            Ok(m) => m
                .get("pantavisor.revision")
                .and_then(Value::as_str)
                .unwrap_or("current")
                .to_string(),
            Err(r) => return r,
        },
    };
    match ctx.ctrl_json(&format!("/steps/{rev}/progress")) {
        Ok(p) => Reply::Json(200, json!({ "rev": rev, "progress": p })),
        Err(r) => r,
    }
}

/// Metadata values that hold JSON objects or lists are shown parsed.
fn expand(meta: Value) -> Value {
    let Value::Object(m) = meta else { return meta };
    let out: Map<String, Value> = m
        .into_iter()
        .map(|(k, v)| {
            let parsed = v
                .as_str()
                .filter(|s| s.starts_with('{') || s.starts_with('['))
                .and_then(|s| serde_json::from_str::<Value>(s).ok());
            (k, parsed.unwrap_or(v))
        })
        .collect();
    Value::Object(out)
}

fn get_config(ctx: &Ctx) -> Reply {
    let device = match ctx.ctrl_json("/device-meta") {
        Ok(v) => expand(v),
        Err(r) => return r,
    };
    let user = match ctx.ctrl_json("/user-meta") {
        Ok(v) => v,
        Err(r) => return r,
    };
    Reply::Json(200, json!({ "device": device, "user": user }))
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k != "."
        && k != ".."
        && k.len() <= 255
        && k.bytes()
            .all(|b| b.is_ascii_graphic() && !b"/?#%\\\"".contains(&b))
}

/// Save (with the request's body as value) or delete a user metadata key,
/// then answer all of them.
fn usermeta(ctx: &Ctx, key: Option<String>, save: Option<&mut Request>) -> Reply {
    let Some(key) = key.filter(|k| valid_key(k)) else {
        return error(
            400,
            "a metadata key is needed (?key=<key>: printable, no '/')",
        );
    };
    let path = format!("/user-meta/{key}");
    let answer = match save {
        Some(req) => {
            let mut value = vec![];
            if let Err(e) = req.as_reader().take(MAX_META + 1).read_to_end(&mut value) {
                return error(400, format!("reading the value: {e}"));
            }
            if value.len() as u64 > MAX_META {
                return error(413, format!("a value of more than {MAX_META} bytes"));
            }
            ctx.call("PUT", &path, Body::Bytes(&value))
        }
        None => ctx.call("DELETE", &path, Body::None),
    };
    match answer {
        Ok((200, _)) => match ctx.ctrl_json("/user-meta") {
            Ok(v) => Reply::Json(200, v),
            Err(r) => r,
        },
        Ok((s, b)) => ctrl_refused(s, &b),
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values() {
        assert_eq!(
            param("rev=locals%2Fpvtx-1-ab-3&x=1", "rev").as_deref(),
            Some("locals/pvtx-1-ab-3")
        );
        assert_eq!(param("part=a+b", "part").as_deref(), Some("a b"));
        assert_eq!(param("empty=true", "empty").as_deref(), Some("true"));
        assert_eq!(param("empty", "empty").as_deref(), Some(""));
        assert_eq!(param("a=1", "b"), None);
        assert_eq!(param("a=%zz", "a"), None);
        assert_eq!(param("a=%4", "a"), None);
    }

    #[test]
    fn metadata_keys() {
        assert!(valid_key("pvr-sdk.authorized_keys"));
        for bad in ["", "..", "a/b", "a b", "a%2F", "a?b"] {
            assert!(!valid_key(bad), "{bad}");
        }
    }

    #[test]
    fn json_metadata_is_expanded() {
        let v = expand(json!({"a": "1", "b": "{\"x\":1}", "c": "[1]", "d": "{bad"}));
        assert_eq!(v, json!({"a": "1", "b": {"x": 1}, "c": [1], "d": "{bad"}));
    }
}
