//! Entities as the original's JSON (field names are normative).

use ph_store::{Account, Device, DeviceToken, LogEntry, ObjectRecord, Step, Trail};
use serde_json::{json, Map, Value};

use crate::tokens::{Keys, ObjectClaims};
use crate::util::{rfc3339, storage_id};
use crate::HubConfig;

/// How much of a device a caller may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceView {
    /// Registration and claim answers: with `secret` and `challenge`.
    WithSecret,
    /// The owner or the device itself: everything but `secret`.
    Own,
    /// Someone else reading a public device: no secret, challenge or metas.
    Public,
}

pub fn account(a: &Account) -> Value {
    json!({
        "type": a.kind,
        "email": a.email,
        "nick": a.nick,
        "prn": a.prn,
        "password": "",
        "time-created": rfc3339(a.created),
        "time-modified": rfc3339(a.modified),
    })
}

/// A device; `user_meta` is the merged view to show (global ⊕ device).
pub fn device(
    d: &Device,
    view: DeviceView,
    owner_nick: &str,
    user_meta: &Map<String, Value>,
) -> Value {
    let mut v = json!({
        "id": d.id,
        "prn": d.prn,
        "nick": d.nick,
        "owner": d.owner,
        "time-created": rfc3339(d.created),
        "time-modified": rfc3339(d.modified),
        "public": d.public,
        "user-meta": user_meta,
        "device-meta": d.device_meta,
        "garbage": false,
        "mark_public_processed": false,
    });
    if !owner_nick.is_empty() {
        v["owner-nick"] = json!(owner_nick);
    }
    match view {
        DeviceView::WithSecret => {
            v["secret"] = json!(d.secret);
            if !d.challenge.is_empty() {
                v["challenge"] = json!(d.challenge);
            }
        }
        DeviceView::Own => {
            if !d.challenge.is_empty() {
                v["challenge"] = json!(d.challenge);
            }
        }
        DeviceView::Public => {
            v["user-meta"] = json!({});
            v["device-meta"] = json!({});
        }
    }
    v
}

pub fn device_token(t: &DeviceToken, token: Option<&str>) -> Value {
    let mut v = json!({
        "id": t.id,
        "prn": t.prn,
        "nick": t.nick,
        "owner": t.owner,
        "default-user-meta": t.default_user_meta,
        "disabled": t.disabled,
        "time-created": rfc3339(t.created),
        "time-modified": rfc3339(t.modified),
    });
    if let Some(tok) = token {
        v["token"] = json!(tok);
    }
    v
}

/// Storage ids of the objects a state references (for `used_objects`).
pub fn used_objects(owner: &str, state: &Value) -> Vec<String> {
    let mut v: Vec<String> = object_entries(state)
        .into_iter()
        .map(|(_, sha)| storage_id(owner, &sha))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// `(key, sha)` of every object entry of a state (not `#spec`, not `.json`).
pub fn object_entries(state: &Value) -> Vec<(String, String)> {
    let Some(m) = state.as_object() else {
        return vec![];
    };
    m.iter()
        .filter(|(k, v)| *k != "#spec" && !pv_types::State::is_inline_json(k, v))
        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
        .collect()
}

pub fn trail(t: &Trail) -> Value {
    json!({
        "id": t.id,
        "owner": t.owner,
        "device": t.device,
        "last-insync": rfc3339(t.last_insync),
        "last-touched": rfc3339(t.last_touched),
        "factory-state": t.factory_state,
        "used_objects": used_objects(&t.owner, &t.factory_state),
    })
}

pub fn step(s: &Step) -> Value {
    json!({
        "id": format!("{}-{}", s.trail_id, s.rev),
        "owner": s.owner,
        "device": s.device,
        "committer": s.committer,
        "trail-id": s.trail_id,
        "rev": s.rev,
        "commit-msg": s.commit_msg,
        "state": s.state,
        "state-sha": s.state_sha,
        "progress": s.progress,
        "step-time": rfc3339(s.step_time),
        "progress-time": rfc3339(s.progress_time),
        "meta": s.meta,
        "used_objects": used_objects(&s.owner, &s.state),
        "mark_public_processed": false,
        "garbage": false,
        "time-created": rfc3339(s.created),
        "time-modified": rfc3339(s.modified),
    })
}

/// Signed URL of a blob: the token is the last path segment.
pub fn signed_url(
    cfg: &HubConfig,
    keys: &Keys,
    o: &ObjectRecord,
    sub: &str,
    method: &str,
) -> String {
    let now = ph_store::now_nanos() / 1_000_000_000;
    let aud = if method == "GET" && !o.linked.is_empty() {
        o.linked.clone()
    } else {
        o.storage_id.clone()
    };
    let c = ObjectClaims {
        iss: cfg.public_url.clone(),
        sub: sub.to_string(),
        aud,
        iat: now,
        exp: now + cfg.object_url_secs,
        disposition_name: o.objectname.clone(),
        size: o.size,
        method: method.to_string(),
        sha: o.sha.clone(),
    };
    format!("{}/local-s3/{}", cfg.public_url, keys.sign_object(&c))
}

/// An object record with its signed URLs; the PUT URL only for the owner.
pub fn object_with_access(
    cfg: &HubConfig,
    keys: &Keys,
    o: &ObjectRecord,
    caller: &str,
    with_put: bool,
) -> Value {
    let now = ph_store::now_nanos() / 1_000_000_000;
    let mut v = object(o);
    v["signed-geturl"] = json!(signed_url(cfg, keys, o, caller, "GET"));
    v["signed-puturl"] = json!(if with_put {
        signed_url(cfg, keys, o, caller, "PUT")
    } else {
        String::new()
    });
    v["now"] = json!(now.to_string());
    v["expire-time"] = json!("15");
    v
}

pub fn object(o: &ObjectRecord) -> Value {
    json!({
        "id": o.sha,
        "storage-id": o.storage_id,
        "owner": o.owner,
        "objectname": o.objectname,
        "sha256sum": o.sha,
        "size": o.size.to_string(),
        "sizeint": o.size,
        "mime-type": o.mime_type,
        "time-created": rfc3339(o.created),
        "time-modified": rfc3339(o.modified),
    })
}

pub fn log_entry(e: &LogEntry) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(e.id.to_string()));
    let mut s = |k: &str, v: &str| {
        if !v.is_empty() {
            m.insert(k.into(), json!(v));
        }
    };
    s("dev", &e.dev);
    s("own", &e.own);
    s("rev", &e.rev);
    s("plat", &e.plat);
    s("src", &e.src);
    s("lvl", &e.lvl);
    s("msg", &e.msg);
    m.insert("time-created".into(), json!(rfc3339(e.created)));
    if e.tsec != 0 {
        m.insert("tsec".into(), json!(e.tsec));
    }
    if e.tnano != 0 {
        m.insert("tnano".into(), json!(e.tnano));
    }
    Value::Object(m)
}
