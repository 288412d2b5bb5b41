//! `/trails`: the factory trail a device creates, steps (revisions) users
//! post, their state, meta, objects and progress, `.pvrremote`, summaries.
//! Answers are canonical JSON.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use ph_store::{Device, NewStep, Step, StepFilter, Trail};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::devices::{can_read, is_owner, is_self};
use super::objects::{self, announce, check_sha, Announce, AutolinkQuery, ObjectAnswer};
use super::{limits, Table};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, Canon, JsonBody};
use crate::render;
use crate::util::{rfc3339, sha256_hex};
use crate::AppState;

pub fn routes(t: Table) -> Table {
    t.post("/trails", limits::STATE, create)
        .get("/trails", list)
        .get("/trails/summary", summaries)
        .get("/trails/auth_status", super::auth::auth_status)
        .get("/trails/{id}", get)
        .get("/trails/{id}/.pvrremote", pvrremote_latest)
        .get("/trails/{id}/summary", summary)
        .get("/trails/{id}/steps", list_steps)
        .post("/trails/{id}/steps", limits::STATE, post_step)
        .get("/trails/{id}/steps/{rev}", get_step)
        .get("/trails/{id}/steps/{rev}/.pvrremote", pvrremote_rev)
        .get("/trails/{id}/steps/{rev}/state", get_state)
        .put("/trails/{id}/steps/{rev}/state", limits::STATE, put_state)
        .get("/trails/{id}/steps/{rev}/meta", get_meta)
        .put("/trails/{id}/steps/{rev}/meta", limits::STATE, put_meta)
        .get("/trails/{id}/steps/{rev}/objects", step_objects)
        .post(
            "/trails/{id}/steps/{rev}/objects",
            limits::SMALL,
            step_announce,
        )
        .get("/trails/{id}/steps/{rev}/objects/{sha}", step_object)
        .get("/trails/{id}/steps/{rev}/objects/{sha}/blob", step_blob)
        .get("/trails/{id}/steps/{rev}/progress", get_progress)
        .put(
            "/trails/{id}/steps/{rev}/progress",
            limits::SMALL,
            put_progress,
        )
        .put("/trails/{id}/steps/{rev}/cancel", limits::SMALL, cancel)
        .put("/trails/{id}/steps/{rev}/wontgo", limits::SMALL, wontgo)
}

/// The `#spec` values a hub accepts.
pub const SPECS: &[&str] = &[
    "pantavisor-multi-platform@1",
    "pantavisor-service-embed@1",
    "pantavisor-service-system@1",
];

/// Check a posted state: an object with a known `#spec`, valid keys, and
/// sha strings for every non-`.json` entry (`{}` is accepted as is).
pub fn check_state(v: &Value) -> ApiResult<()> {
    let m = v
        .as_object()
        .ok_or_else(|| ApiError::bad_request("a state is a JSON object"))?;
    if m.is_empty() {
        return Ok(());
    }
    match m.get("#spec").and_then(Value::as_str) {
        Some(s) if SPECS.contains(&s) => {}
        Some(s) => return Err(ApiError::bad_request(format!("unsupported #spec {s:?}"))),
        None => return Err(ApiError::bad_request("the state has no #spec")),
    }
    let st = pv_types::State::from_map(m.clone());
    st.validate_structure()
        .map_err(|e| ApiError::bad_request(format!("invalid state: {e}")))
}

/// sha256 of the canonical JSON (exact numbers, as pvr).
pub fn state_sha(v: &Value) -> String {
    sha256_hex(&pv_json::to_canonical(v))
}

struct Access {
    trail: Trail,
}

/// Load a trail for reading (owner, its device, anyone if public).
async fn readable(hub: &AppState, c: &Caller, id: &str) -> ApiResult<Access> {
    c.need_scope("trails", false)?;
    let trail = hub
        .store
        .db
        .trail_by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no trail {id:?}")))?;
    let device = hub.store.db.device_by_id(id).await?;
    let ok = match &device {
        Some(d) => can_read(c, d),
        None => c.user_prn() == Some(trail.owner.as_str()),
    };
    if !ok {
        return Err(ApiError::forbidden("not your trail"));
    }
    Ok(Access { trail })
}

fn owns(c: &Caller, a: &Access) -> bool {
    c.user_prn() == Some(a.trail.owner.as_str())
}

fn is_dev(c: &Caller, a: &Access) -> bool {
    c.device_id() == Some(a.trail.id.as_str())
}

/// Load a trail for a user-owner change.
async fn owned(hub: &AppState, c: &Caller, id: &str) -> ApiResult<Access> {
    let a = readable(hub, c, id).await?;
    c.need_scope("trails", true)?;
    if !owns(c, &a) {
        return Err(ApiError::forbidden("only the owner may change this trail"));
    }
    Ok(a)
}

fn parse_rev(s: &str) -> ApiResult<i64> {
    s.parse()
        .map_err(|_| ApiError::bad_request(format!("rev {s:?} is not an integer")))
}

/// A step of a trail the caller may read (404 before 403 as [`readable`]).
async fn readable_step(hub: &AppState, c: &Caller, id: &str, rev: &str) -> ApiResult<Step> {
    readable(hub, c, id).await?;
    load_step(hub, id, rev).await
}

async fn load_step(hub: &AppState, id: &str, rev: &str) -> ApiResult<Step> {
    let rev = parse_rev(rev)?;
    hub.store
        .db
        .step(id, rev)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no step {id}-{rev}")))
}

async fn create(
    State(hub): State<AppState>,
    caller: Caller,
    Query(q): Query<AutolinkQuery>,
    JsonBody(state): JsonBody<Value>,
) -> ApiResult<Canon> {
    caller.need_scope("trails", true)?;
    let (id, prn, owner) = caller.need_device()?;
    let (id, prn, owner) = (id.to_string(), prn.to_string(), owner.to_string());
    if owner.is_empty() {
        return Err(ApiError::forbidden("device not claimed yet"));
    }
    check_state(&state)?;
    if hub.store.db.trail_by_id(&id).await?.is_some() {
        return Err(ApiError::conflict("trail exists"));
    }
    let shas = objects::resolve_state_objects(&hub, &owner, &state, q.on()).await?;
    let now = ph_store::now_nanos();
    let trail = Trail {
        id: id.clone(),
        owner: owner.clone(),
        device: prn.clone(),
        factory_state: state.clone(),
        last_insync: now,
        last_touched: now,
        created: now,
        modified: now,
    };
    let step0 = NewStep {
        trail_id: id,
        rev: Some(0),
        owner,
        device: prn,
        committer: String::new(),
        commit_msg: "Factory State (rev 0)".into(),
        state_sha: state_sha(&state),
        state,
        progress: progress_of("DONE", 100, "Factory State"),
        status: "DONE".into(),
        meta: json!({}),
        objects: shas,
        progress_time: now,
    };
    let (t, _) = hub.store.db.create_trail(&trail, &step0).await?;
    Ok(Canon(render::trail(&t)))
}

/// A progress object with every base field.
pub(crate) fn progress_of(status: &str, pct: i64, msg: &str) -> Value {
    json!({
        "progress": pct,
        "downloads": {"total": {"total_size": 0, "start_time": 0, "current_time": 0, "total_downloaded": 0}, "objects": null},
        "status-msg": msg,
        "status": status,
        "log": "",
    })
}

async fn list(State(hub): State<AppState>, caller: Caller) -> ApiResult<Canon> {
    caller.need_scope("trails", false)?;
    let db = &hub.store.db;
    let trails = match caller.device_id() {
        Some(id) => db.trail_by_id(id).await?.into_iter().collect(),
        None => db.trails_of(caller.prn()).await?,
    };
    Ok(Canon(Value::Array(
        trails.iter().map(render::trail).collect(),
    )))
}

async fn get(
    State(hub): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Canon> {
    let a = readable(&hub, &caller, &id).await?;
    Ok(Canon(render::trail(&a.trail)))
}

fn pvrremote(hub: &AppState, id: &str, rev: i64, per_step: bool) -> Value {
    let api = &hub.cfg.public_url;
    json!({
        "pvr-spec": "pvr-pantahub-1",
        "json-get-url": format!("{api}/trails/{id}/steps/{rev}/state"),
        "json-key": "state",
        "objects-endpoint": format!("{api}/trails/{id}/steps/{rev}/objects"),
        "post-url": format!("{api}/trails/{id}/steps"),
        "post-fields": if per_step { json!(["msg"]) } else { json!(["commit-msg"]) },
        "post-fields-opt": if per_step { json!([]) } else { json!(["rev"]) },
        "step-get-url": format!("{api}/trails/{id}/steps/{rev}"),
    })
}

async fn pvrremote_latest(
    State(hub): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Canon> {
    readable(&hub, &caller, &id).await?;
    let s = hub
        .store
        .db
        .latest_step(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("the trail has no steps"))?;
    Ok(Canon(pvrremote(&hub, &id, s.rev, false)))
}

async fn pvrremote_rev(
    State(hub): State<AppState>,
    caller: Caller,
    Path((id, rev)): Path<(String, String)>,
) -> ApiResult<Canon> {
    let s = readable_step(&hub, &caller, &id, &rev).await?;
    Ok(Canon(pvrremote(&hub, &id, s.rev, true)))
}

/// `progress.status`: a plain string (equality) or a JSON operator object
/// (`$in`, `$nin`, `$eq`, `$ne`).
fn status_filter(q: &str, f: &mut StepFilter) -> ApiResult<()> {
    let q = q.trim();
    if !q.starts_with('{') {
        f.status_in = Some(vec![q.to_string()]);
        return Ok(());
    }
    let v: Map<String, Value> = serde_json::from_str(q)
        .map_err(|e| ApiError::bad_request(format!("progress.status: {e}")))?;
    let strings = |v: &Value| -> ApiResult<Vec<String>> {
        match v {
            Value::String(s) => Ok(vec![s.clone()]),
            Value::Array(a) => a
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| ApiError::bad_request("progress.status: strings expected"))
                })
                .collect(),
            _ => Err(ApiError::bad_request("progress.status: strings expected")),
        }
    };
    for (op, val) in &v {
        match op.as_str() {
            "$in" | "$eq" => f.status_in = Some(strings(val)?),
            "$nin" | "$ne" => f.status_not_in = Some(strings(val)?),
            other => {
                return Err(ApiError::bad_request(format!(
                    "progress.status: unsupported operator {other:?}"
                )))
            }
        }
    }
    Ok(())
}

async fn list_steps(
    State(hub): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Canon> {
    let a = readable(&hub, &caller, &id).await?;
    let mut f = StepFilter::default();
    if let Some(s) = q.get("progress.status") {
        status_filter(s, &mut f)?;
    } else if is_dev(&caller, &a) {
        f.status_in = Some(vec!["NEW".into()]);
        f.limit = Some(1);
    } else if owns(&caller, &a) {
        f.status_not_in = Some(vec!["DONE".into()]);
    } else {
        f.status_in = Some(vec!["NEW".into()]);
    }
    if let Some(n) = q.get("page[size]") {
        f.limit = Some(n.parse().map_err(|_| ApiError::bad_request("page[size]"))?);
    }
    if let Some(n) = q.get("page[offset]") {
        f.offset = n
            .parse()
            .map_err(|_| ApiError::bad_request("page[offset]"))?;
    }
    let steps = hub.store.db.steps(&id, &f).await?;
    Ok(Canon(Value::Array(
        steps.iter().map(render::step).collect(),
    )))
}

#[derive(Deserialize)]
struct PostStep {
    #[serde(default = "minus_one")]
    rev: i64,
    #[serde(default, rename = "commit-msg")]
    commit_msg: String,
    #[serde(default)]
    msg: Option<String>,
    state: Option<Value>,
    #[serde(default)]
    meta: Option<Value>,
}

fn minus_one() -> i64 {
    -1
}

async fn post_step(
    State(hub): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<AutolinkQuery>,
    JsonBody(b): JsonBody<PostStep>,
) -> ApiResult<Canon> {
    let a = readable(&hub, &caller, &id).await?;
    caller.need_scope("trails", true)?;
    if !(owns(&caller, &a) || is_dev(&caller, &a)) {
        return Err(ApiError::forbidden(
            "only the owner or the device posts steps",
        ));
    }
    let state = b
        .state
        .ok_or_else(|| ApiError::bad_request("the step has no state"))?;
    check_state(&state)?;
    if b.rev < -1 || b.rev == 0 {
        return Err(ApiError::bad_request(format!(
            "rev {} is not allowed",
            b.rev
        )));
    }
    if b.rev > 0 {
        let db = &hub.store.db;
        if db.step(&id, b.rev).await?.is_some() {
            return Err(ApiError::conflict(format!("rev {} exists", b.rev)));
        }
        if db.step(&id, b.rev - 1).await?.is_none() {
            return Err(ApiError::bad_request(format!(
                "rev {} does not exist",
                b.rev - 1
            )));
        }
    }
    let shas = objects::resolve_state_objects(&hub, &a.trail.owner, &state, q.on()).await?;
    let step = NewStep {
        trail_id: id,
        rev: (b.rev > 0).then_some(b.rev),
        owner: a.trail.owner.clone(),
        device: a.trail.device.clone(),
        committer: caller.prn().to_string(),
        commit_msg: b
            .msg
            .filter(|m| b.commit_msg.is_empty() && !m.is_empty())
            .unwrap_or(b.commit_msg),
        state_sha: state_sha(&state),
        state,
        progress: progress_of("NEW", 0, ""),
        status: "NEW".into(),
        meta: b.meta.filter(Value::is_object).unwrap_or_else(|| json!({})),
        objects: shas,
        progress_time: 0,
    };
    let s = hub.store.db.add_step(&step).await.map_err(|e| match e {
        ph_store::StoreError::Conflict(m) => ApiError::conflict(m),
        e => e.into(),
    })?;
    Ok(Canon(render::step(&s)))
}

async fn get_step(
    State(hub): State<AppState>,
    caller: Caller,
    Path((id, rev)): Path<(String, String)>,
) -> ApiResult<Canon> {
    let s = readable_step(&hub, &caller, &id, &rev).await?;
    Ok(Canon(render::step(&s)))
}

async fn get_state(
    State(hub): State<AppState>,
    caller: Caller,
    Path((id, rev)): Path<(String, String)>,
) -> ApiResult<Canon> {
    let s = readable_step(&hub, &caller, &id, &rev).await?;
    Ok(Canon(s.state))
}

async fn put_state(
    State(hub): State<AppState>,
    caller: Caller,
    Path((id, rev)): Path<(String, String)>,
    Query(q): Query<AutolinkQuery>,
    JsonBody(state): JsonBody<Value>,
) -> ApiResult<Canon> {
    let a = owned(&hub, &caller, &id).await?;
    let s = load_step(&hub, &id, &rev).await?;
    if s.status != "NEW" {
        return Err(ApiError::bad_request(format!(
            "the state of a step can change only while NEW (it is {})",
            s.status
        )));
    }
    check_state(&state)?;
    let shas = objects::resolve_state_objects(&hub, &a.trail.owner, &state, q.on()).await?;
    let sha = state_sha(&state);
    if !hub
        .store
        .db
        .set_step_state_if_new(&id, s.rev, &state, &sha, &shas)
        .await?
    {
        return Err(ApiError::bad_request("the step left NEW meanwhile"));
    }
    Ok(Canon(state))
}

async fn get_meta(
    State(hub): State<AppState>,
    caller: Caller,
    Path((id, rev)): Path<(String, String)>,
) -> ApiResult<Canon> {
    let s = readable_step(&hub, &caller, &id, &rev).await?;
    Ok(Canon(if s.meta.is_object() {
        s.meta
    } else {
        json!({})
    }))
}

async fn put_meta(
    State(hub): State<AppState>,
    caller: Caller,
    Path((id, rev)): Path<(String, String)>,
    JsonBody(meta): JsonBody<Map<String, Value>>,
) -> ApiResult<Canon> {
    owned(&hub, &caller, &id).await?;
    let s = load_step(&hub, &id, &rev).await?;
    let meta = Value::Object(meta);
    hub.store.db.set_step_meta(&id, s.rev, &meta).await?;
    Ok(Canon(meta))
}

/// The step's objects as the trail owner's records with signed URLs.
async fn step_objects(
    State(hub): State<AppState>,
    caller: Caller,
    Path((id, rev)): Path<(String, String)>,
) -> ApiResult<Canon> {
    let a = readable(&hub, &caller, &id).await?;
    let s = load_step(&hub, &id, &rev).await?;
    let mut out = vec![];
    for (key, sha) in render::object_entries(&s.state) {
        let mut o = hub
            .store
            .db
            .object(&a.trail.owner, &sha)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("object {sha} of {key} has no record")))?;
        o.objectname = key;
        let put = owns(&caller, &a);
        out.push(render::object_with_access(
            &hub.cfg,
            &hub.keys,
            &o,
            caller.prn(),
            put,
        ));
    }
    Ok(Canon(Value::Array(out)))
}

async fn step_announce(
    State(hub): State<AppState>,
    caller: Caller,
    Path((id, _rev)): Path<(String, String)>,
    Query(q): Query<AutolinkQuery>,
    JsonBody(body): JsonBody<Announce>,
) -> ApiResult<ObjectAnswer> {
    let a = readable(&hub, &caller, &id).await?;
    caller.need_scope("objects", true)?;
    if !(owns(&caller, &a) || is_dev(&caller, &a)) {
        return Err(ApiError::forbidden(
            "only the owner or the device adds objects",
        ));
    }
    let owner = a.trail.owner.clone();
    let subject = if owns(&caller, &a) {
        owner.clone()
    } else {
        caller.prn().to_string()
    };
    let mut r = announce(&hub, &owner, &subject, body, q.on()).await?;
    if is_dev(&caller, &a) {
        // a device uploads for its owner
        if let Some(sha) = r.body.get("sha256sum").and_then(Value::as_str) {
            if let Some(o) = hub.store.db.object(&owner, sha).await? {
                r.body = render::object_with_access(&hub.cfg, &hub.keys, &o, caller.prn(), true);
            }
        }
    }
    Ok(r)
}

async fn find_step_object(
    hub: &AppState,
    caller: &Caller,
    id: &str,
    rev: &str,
    sha: &str,
) -> ApiResult<(Access, ph_store::ObjectRecord)> {
    let a = readable(hub, caller, id).await?;
    check_sha(sha)?;
    let s = load_step(hub, id, rev).await?;
    let Some((key, _)) = render::object_entries(&s.state)
        .into_iter()
        .find(|(_, x)| x == sha)
    else {
        return Err(ApiError::not_found(format!(
            "object {sha} is not in this step"
        )));
    };
    let mut o = hub
        .store
        .db
        .object(&a.trail.owner, sha)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("object {sha} has no record")))?;
    o.objectname = key;
    Ok((a, o))
}

async fn step_object(
    State(hub): State<AppState>,
    caller: Caller,
    Path((id, rev, sha)): Path<(String, String, String)>,
) -> ApiResult<ObjectAnswer> {
    let (a, o) = find_step_object(&hub, &caller, &id, &rev, &sha).await?;
    let put = owns(&caller, &a);
    Ok(ObjectAnswer {
        status: axum::http::StatusCode::OK,
        link: !o.linked.is_empty(),
        body: render::object_with_access(&hub.cfg, &hub.keys, &o, caller.prn(), put),
    })
}

async fn step_blob(
    State(hub): State<AppState>,
    caller: Caller,
    Path((id, rev, sha)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let (_, o) = find_step_object(&hub, &caller, &id, &rev, &sha).await?;
    Ok(objects::redirect_to(&render::signed_url(
        &hub.cfg,
        &hub.keys,
        &o,
        caller.prn(),
        "GET",
    )))
}

async fn get_progress(
    State(hub): State<AppState>,
    caller: Caller,
    Path((id, rev)): Path<(String, String)>,
) -> ApiResult<Canon> {
    let s = readable_step(&hub, &caller, &id, &rev).await?;
    Ok(Canon(s.progress))
}

/// Store a device's progress report as sent (an open object: `logs`,
/// `retries` and any other field are kept), with the base fields present.
async fn put_progress(
    State(hub): State<AppState>,
    caller: Caller,
    Path((id, rev)): Path<(String, String)>,
    JsonBody(mut p): JsonBody<Map<String, Value>>,
) -> ApiResult<Canon> {
    caller.need_scope("trails", true)?;
    let (dev, _, _) = caller.need_device()?;
    if dev != id {
        return Err(ApiError::forbidden(
            "a device reports progress only on its own trail",
        ));
    }
    let rev = parse_rev(&rev)?;
    let status = match p.get("status") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(ApiError::bad_request("progress.status must be a string")),
    };
    for (k, d) in [
        ("progress", json!(0)),
        ("status-msg", json!("")),
        ("status", json!("")),
        ("log", json!("")),
    ] {
        p.entry(k).or_insert(d);
    }
    let p = Value::Object(p);
    if !hub
        .store
        .db
        .set_step_progress(&id, rev, &p, &status)
        .await?
    {
        return Err(ApiError::not_found(format!("no step {id}-{rev}")));
    }
    if crate::rollouts::is_end_status(&status) {
        crate::rollouts::device_settled(&hub, &id, &status).await;
    }
    Ok(Canon(p))
}

async fn change_status(
    hub: AppState,
    caller: Caller,
    id: String,
    rev: String,
    from: &str,
    to: &str,
    msg: &str,
) -> ApiResult<Canon> {
    owned(&hub, &caller, &id).await?;
    let s = load_step(&hub, &id, &rev).await?;
    let mut p = s.progress.as_object().cloned().unwrap_or_default();
    p.insert("status".into(), json!(to));
    p.insert("progress".into(), json!(100));
    p.insert("status-msg".into(), json!(msg));
    let p = Value::Object(p);
    if s.status != from
        || !hub
            .store
            .db
            .set_step_progress_if(&id, s.rev, from, &p, to)
            .await?
    {
        return Err(ApiError::bad_request(format!(
            "only a {from} step can become {to} (this one is {})",
            s.status
        )));
    }
    crate::rollouts::device_settled(&hub, &id, to).await;
    let s = load_step(&hub, &id, &s.rev.to_string()).await?;
    Ok(Canon(render::step(&s)))
}

async fn cancel(
    State(hub): State<AppState>,
    caller: Caller,
    Path((id, rev)): Path<(String, String)>,
) -> ApiResult<Canon> {
    change_status(
        hub,
        caller,
        id,
        rev,
        "NEW",
        "CANCEL",
        "Cancel as requested by owner",
    )
    .await
}

async fn wontgo(
    State(hub): State<AppState>,
    caller: Caller,
    Path((id, rev)): Path<(String, String)>,
) -> ApiResult<Canon> {
    change_status(
        hub,
        caller,
        id,
        rev,
        "INPROGRESS",
        "WONTGO",
        "Marked as won't go by owner",
    )
    .await
}

/// A device summary computed from the device and its latest step.
async fn summary_of(hub: &AppState, d: &Device) -> ApiResult<Value> {
    let db = &hub.store.db;
    let trail = db.trail_by_id(&d.id).await?;
    let latest = db.latest_step(&d.id).await?;
    let (rev, status, msg, pct, sha, ptime) = match &latest {
        Some(s) => (
            s.rev,
            s.status.clone(),
            s.progress
                .get("status-msg")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            s.progress.get("progress").cloned().unwrap_or(json!(0)),
            s.state_sha.clone(),
            rfc3339(s.progress_time),
        ),
        None => (
            -1,
            String::new(),
            String::new(),
            json!(0),
            String::new(),
            rfc3339(0),
        ),
    };
    Ok(json!({
        "deviceid": d.id,
        "device": d.prn,
        "device-nick": d.nick,
        "owner": d.owner,
        "public": d.public,
        "revision": rev,
        "progress-revision": rev,
        "status": status,
        "status-msg": msg,
        "progress": pct,
        "state-sha": sha,
        "progress-time": ptime,
        "trail-touched-time": trail.map(|t| rfc3339(t.last_touched)).unwrap_or_else(|| rfc3339(0)),
        "timestamp": rfc3339(d.modified),
        "device-meta": d.device_meta,
        "user-meta": d.user_meta,
    }))
}

async fn summaries(State(hub): State<AppState>, caller: Caller) -> ApiResult<Canon> {
    let owner = caller.need_user()?;
    caller.need_scope("trails", false)?;
    let mut out = vec![];
    for d in hub.store.db.devices_of(owner, false).await? {
        out.push(summary_of(&hub, &d).await?);
    }
    Ok(Canon(Value::Array(out)))
}

async fn summary(
    State(hub): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Canon> {
    caller.need_scope("trails", false)?;
    let d = hub
        .store
        .db
        .device_by_id(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no device {id:?}")))?;
    if !(is_owner(&caller, &d) || is_self(&caller, &d)) {
        return Err(ApiError::forbidden("not your device"));
    }
    Ok(Canon(summary_of(&hub, &d).await?))
}
