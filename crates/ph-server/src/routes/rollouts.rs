//! `/rollouts`: a user posts one state to a set of their devices in waves,
//! follows its progress per wave, pauses, resumes or aborts it. The wave
//! logic is in [`crate::rollouts`].

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ph_store::Rollout;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::trails::{check_state, state_sha};
use super::{limits, Table};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, JsonBody};
use crate::rollouts::{self as ro, Wave};
use crate::AppState;

pub fn routes(t: Table) -> Table {
    t.post("/rollouts", limits::STATE, create)
        .get("/rollouts", list)
        .get("/rollouts/{id}", get)
        .post("/rollouts/{id}/pause", limits::SMALL, pause)
        .post("/rollouts/{id}/resume", limits::SMALL, resume)
        .post("/rollouts/{id}/abort", limits::SMALL, abort)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRollout {
    state: Value,
    #[serde(default, rename = "commit-msg")]
    commit_msg: String,
    devices: Option<Vec<String>>,
    selector: Option<Map<String, Value>>,
    waves: Option<Vec<u64>>,
    #[serde(rename = "wave-percent")]
    wave_percent: Option<Vec<f64>>,
    #[serde(default, rename = "failure-threshold")]
    failure_threshold: f64,
}

/// The devices a rollout targets: a list of the caller's device ids, or
/// every device of the caller whose user-meta has all the selector's
/// pairs. Every device must have a trail (it has synced its factory state).
async fn select(hub: &AppState, owner: &str, b: &NewRollout) -> ApiResult<Vec<String>> {
    let db = &hub.store.db;
    let ids = match (&b.devices, &b.selector) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "give either devices or selector, not both",
            ))
        }
        (None, None) => return Err(ApiError::bad_request("give devices or a selector")),
        (Some(list), None) => {
            let mut out: Vec<String> = vec![];
            for id in list {
                let d = db
                    .device_by_id(id)
                    .await?
                    .ok_or_else(|| ApiError::not_found(format!("no device {id:?}")))?;
                if d.owner != owner {
                    return Err(ApiError::forbidden(format!("device {id} is not yours")));
                }
                if db.trail_by_id(id).await?.is_none() {
                    return Err(ApiError::bad_request(format!(
                        "device {id} has no trail yet (it has not synced its factory state)"
                    )));
                }
                if !out.contains(id) {
                    out.push(id.clone());
                }
            }
            out
        }
        (None, Some(sel)) => {
            let mut out = vec![];
            for d in db.devices_of(owner, false).await? {
                let hit = sel.iter().all(|(k, v)| d.user_meta.get(k) == Some(v));
                if hit && db.trail_by_id(&d.id).await?.is_some() {
                    out.push(d.id);
                }
            }
            out
        }
    };
    if ids.is_empty() {
        return Err(ApiError::bad_request("the rollout selects no device"));
    }
    Ok(ids)
}

async fn create(
    State(hub): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<NewRollout>,
) -> ApiResult<Response> {
    let owner = caller.need_user()?.to_string();
    caller.need_scope("trails", true)?;
    check_state(&b.state)?;
    if !(0.0..=1.0).contains(&b.failure_threshold) {
        return Err(ApiError::bad_request(
            "failure-threshold is a share between 0 and 1",
        ));
    }
    let devices = select(&hub, &owner, &b).await?;
    // every object of the state must be the owner's (or linkable) now
    super::objects::resolve_state_objects(&hub, &owner, &b.state, true).await?;
    let sizes = ro::plan(devices.len(), b.waves.as_deref(), b.wave_percent.as_deref())
        .map_err(ApiError::bad_request)?;
    let mut rest = devices.iter();
    let waves: Vec<Wave> = sizes
        .iter()
        .map(|&n| Wave {
            devices: rest.by_ref().take(n).cloned().collect(),
            started: false,
            tolerated: 0,
        })
        .collect();
    let now = ph_store::now_nanos();
    let r = Rollout {
        id: crate::util::new_id(),
        owner,
        status: "running".into(),
        reason: String::new(),
        commit_msg: b.commit_msg,
        state_sha: state_sha(&b.state),
        state: b.state,
        threshold: b.failure_threshold,
        waves: serde_json::to_value(&waves).map_err(|e| ApiError::internal(e.to_string()))?,
        version: 0,
        created: now,
        modified: now,
    };
    hub.store.db.create_rollout(&r, &devices).await?;
    ro::advance(&hub, &r.id).await?;
    let r = load(&hub, &caller, &r.id).await?;
    Ok((StatusCode::CREATED, Json(ro::render(&hub, &r).await?)).into_response())
}

/// A rollout of the caller (404 if absent, 403 if someone else's).
async fn load(hub: &AppState, caller: &Caller, id: &str) -> ApiResult<Rollout> {
    let owner = caller.need_user()?;
    caller.need_scope("trails", false)?;
    let r = hub
        .store
        .db
        .rollout(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no rollout {id:?}")))?;
    if r.owner != owner {
        return Err(ApiError::forbidden("not your rollout"));
    }
    Ok(r)
}

async fn list(State(hub): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let owner = caller.need_user()?;
    caller.need_scope("trails", false)?;
    let mut out = vec![];
    for r in hub.store.db.rollouts_of(owner).await? {
        out.push(ro::render(&hub, &r).await?);
    }
    Ok(Json(Value::Array(out)))
}

async fn get(
    State(hub): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    load(&hub, &caller, &id).await?;
    // catch up with anything a lost event left behind
    ro::advance(&hub, &id).await?;
    let r = load(&hub, &caller, &id).await?;
    Ok(Json(ro::render(&hub, &r).await?))
}

/// Apply `change` to the record and write it (compare-and-swap, retried);
/// `change` returns false to leave the record as it is.
async fn change(
    hub: &AppState,
    caller: &Caller,
    id: &str,
    change: impl Fn(&mut Rollout) -> ApiResult<bool>,
) -> ApiResult<Rollout> {
    caller.need_scope("trails", true)?;
    for _ in 0..16 {
        let mut r = load(hub, caller, id).await?;
        if !change(&mut r)? || hub.store.db.update_rollout(&mut r).await? {
            return Ok(r);
        }
    }
    Err(ApiError::conflict("the rollout keeps changing; try again"))
}

fn ended(r: &Rollout) -> ApiResult<()> {
    if r.status == "done" || r.status == "aborted" {
        return Err(ApiError::conflict(format!("the rollout is {}", r.status)));
    }
    Ok(())
}

async fn pause(
    State(hub): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let nick = match &caller.who {
        crate::extract::Who::User { nick, .. } => nick.clone(),
        _ => String::new(),
    };
    let r = change(&hub, &caller, &id, |r| {
        ended(r)?;
        if r.status == "paused" {
            return Ok(false);
        }
        r.status = "paused".into();
        r.reason = format!("paused by {nick}");
        Ok(true)
    })
    .await?;
    Ok(Json(ro::render(&hub, &r).await?))
}

async fn resume(
    State(hub): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let steps = hub.store.db.rollout_steps(&id).await?;
    change(&hub, &caller, &id, |r| {
        ended(r)?;
        if r.status == "running" {
            return Ok(false);
        }
        // the failures seen so far are accepted: only new ones pause again
        let mut waves = ro::waves_of(r)?;
        if let Some(w) = waves.iter_mut().rev().find(|w| w.started) {
            w.tolerated = ro::counts(w, &steps).failed;
        }
        r.waves = serde_json::to_value(&waves).map_err(|e| ApiError::internal(e.to_string()))?;
        r.status = "running".into();
        r.reason = String::new();
        Ok(true)
    })
    .await?;
    ro::advance(&hub, &id).await?;
    let r = load(&hub, &caller, &id).await?;
    Ok(Json(ro::render(&hub, &r).await?))
}

/// Stop for good: no further wave starts, and steps already posted that
/// no device has picked up yet (still NEW) are cancelled.
async fn abort(
    State(hub): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let r = change(&hub, &caller, &id, |r| {
        if r.status == "aborted" {
            return Ok(false);
        }
        ended(r)?;
        r.status = "aborted".into();
        r.reason = "aborted by the owner".into();
        Ok(true)
    })
    .await?;
    let db = &hub.store.db;
    for (dev, st) in db.rollout_steps(&id).await? {
        if let (Some(rev), Some("NEW")) = (st.rev, st.status.as_deref()) {
            let p = json!({
                "status": "CANCEL",
                "progress": 100,
                "status-msg": "Cancelled: the rollout was aborted",
                "log": "",
            });
            db.set_step_progress_if(&dev, rev, "NEW", &p, "CANCEL")
                .await?;
        }
    }
    Ok(Json(ro::render(&hub, &r).await?))
}
