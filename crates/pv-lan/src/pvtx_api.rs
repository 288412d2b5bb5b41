//! The pvtx REST API (`/cgi-bin/pvtx/…`): the transaction commands of
//! `pvtx` over HTTP, with the bodies and answers of the seed's "PVTX REST
//! API" chapter. One remote transaction per device, kept in the
//! endpoint's transaction directory (`pv_tx`, which serializes the
//! handlers); changes reach the device through the control socket.
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
//! Errors are `{"error":"…"}`: 400 for what the request got wrong, 503
//! (`Retry-After: 1`) while another call works on the transaction (an
//! upload, say), 502 when the control socket failed, its own status when
//! it refused.

use std::io::Read;

use pv_tx::{Base, Options, Pvtx, TxError};
use serde_json::{json, Value};

use crate::body::RequestBody;
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
        TxError::Busy => Reply::JsonWith(
            503,
            json!({ "error": e.to_string() }),
            vec![("Retry-After", "1".into())],
        ),
        TxError::Ctrl(m) => error(502, m),
        TxError::Refused { status, msg, .. } => error(status, msg),
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
pub(crate) fn param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|p| p.split_once('=').or(Some((p, ""))))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| decode(v))
}

/// Serve `/cgi-bin/pvtx/<op>`.
pub fn serve(ctx: &Ctx, op: &str, query: &str, method: &str, body: &mut RequestBody) -> Reply {
    if !methods(op).contains(&method) {
        return error(405, format!("{op}: use {}", methods(op).join(" or ")));
    }
    let mut opts = Options::new(&ctx.pvtx_dir);
    opts.socket = Some(ctx.ctrl_socket.clone());
    // a handler never waits behind a long upload of another request
    opts.wait = false;
    let pvtx = Pvtx::new(opts);
    match op {
        "begin" => begin(&pvtx, param(query, "empty").as_deref() == Some("true")),
        "add" => add(ctx, &pvtx, body),
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
        "run" => run(&pvtx, param(query, "rev")),
        "status" => status(&pvtx, param(query, "rev")),
        "get-config" => get_config(&pvtx),
        "usermeta/save" => usermeta(&pvtx, param(query, "key"), Some(body)),
        "usermeta/delete" => usermeta(&pvtx, param(query, "key"), None),
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
fn add(ctx: &Ctx, pvtx: &Pvtx, body: &mut RequestBody) -> Reply {
    let max = ctx.uploads.max_object_size();
    if body.len().is_some_and(|n| n > max) {
        return error(413, format!("a package of more than {max} bytes"));
    }
    let Some(_slot) = ctx.uploads.enter() else {
        return Reply::JsonWith(
            503,
            json!({ "error": "too many uploads at once; retry" }),
            vec![("Retry-After", "1".into())],
        );
    };
    pvtx.add_reader(body.take(max), "the request body")
        .map_or_else(tx_error, |s| state_reply(&s))
}

fn check_rev(rev: &str) -> Result<(), Reply> {
    pv_types::check_revision(rev).map_err(|e| error(400, format!("rev {rev:?}: {e}")))
}

fn run(pvtx: &Pvtx, rev: Option<String>) -> Reply {
    let Some(rev) = rev.filter(|r| !r.is_empty()) else {
        return error(400, "run needs ?rev=<revision>");
    };
    if let Err(r) = check_rev(&rev) {
        return r;
    }
    let answer = pvtx.device().and_then(|dev| {
        dev.run(&rev)?;
        dev.progress(&rev)
    });
    answer.map_or_else(tx_error, |p| Reply::Json(200, p))
}

fn status(pvtx: &Pvtx, rev: Option<String>) -> Reply {
    if let Some(r) = rev.as_deref().filter(|r| !r.is_empty() && *r != "current") {
        if let Err(e) = check_rev(r) {
            return e;
        }
    }
    match pvtx.device().and_then(|dev| dev.status(rev.as_deref())) {
        Ok((rev, progress)) => Reply::Json(200, json!({ "rev": rev, "progress": progress })),
        Err(e) => tx_error(e),
    }
}

fn get_config(pvtx: &Pvtx) -> Reply {
    let both = pvtx
        .device()
        .and_then(|dev| Ok((dev.device_meta()?, dev.user_meta()?)));
    match both {
        Ok((device, user)) => Reply::Json(200, json!({ "device": device, "user": user })),
        Err(e) => tx_error(e),
    }
}

/// Save (with the request's body as value) or delete a user metadata key,
/// then answer all of them.
fn usermeta(pvtx: &Pvtx, key: Option<String>, save: Option<&mut RequestBody>) -> Reply {
    let Some(key) = key.filter(|k| pv_tx::ctrl::check_meta_key(k).is_ok()) else {
        return error(
            400,
            "a metadata key is needed (?key=<key>: printable, no '/')",
        );
    };
    let dev = match pvtx.device() {
        Ok(d) => d,
        Err(e) => return tx_error(e),
    };
    let done = match save {
        Some(body) => {
            let mut value = vec![];
            if let Err(e) = body.take(MAX_META + 1).read_to_end(&mut value) {
                return error(400, format!("reading the value: {e}"));
            }
            if value.len() as u64 > MAX_META {
                return error(413, format!("a value of more than {MAX_META} bytes"));
            }
            dev.save_user_meta(&key, &value)
        }
        None => dev.delete_user_meta(&key),
    };
    done.and_then(|()| dev.user_meta())
        .map_or_else(tx_error, |v| Reply::Json(200, v))
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
}
