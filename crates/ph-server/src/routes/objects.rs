//! `/objects`: announce (200 with a PUT URL, or 409 when present or
//! linkable), read with signed URLs, rename, delete. The same announce and
//! resolve logic serves the trails' object routes and step posting.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ph_store::ObjectRecord;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{limits, Table};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, JsonBody};
use crate::render;
use crate::util::storage_id;
use crate::AppState;

pub fn routes(t: Table) -> Table {
    t.get("/objects", list)
        .post("/objects", limits::SMALL, announce_route)
        .get("/objects/{sha}", get)
        .put("/objects/{sha}", limits::SMALL, rename)
        .delete("/objects/{sha}", delete)
        .get("/objects/{sha}/blob", blob)
}

pub const OBJECT_TYPE: &str = "pantahub-object-type";

/// `?autolink=no` turns public linking off.
#[derive(Deserialize, Default)]
pub struct AutolinkQuery {
    #[serde(default)]
    pub autolink: Option<String>,
}

impl AutolinkQuery {
    pub fn on(&self) -> bool {
        self.autolink.as_deref() != Some("no")
    }
}

/// An object announcement.
#[derive(Deserialize, Debug)]
pub struct Announce {
    #[serde(default)]
    pub objectname: String,
    #[serde(default)]
    pub sha256sum: String,
    #[serde(default)]
    pub size: Value,
    #[serde(default, rename = "sizeint")]
    pub sizeint: Option<i64>,
    #[serde(default, rename = "mime-type")]
    pub mime_type: String,
    #[serde(default)]
    pub id: String,
}

pub(crate) fn check_sha(s: &str) -> ApiResult<()> {
    if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{s:?} is not a sha256 (64 lowercase hex digits)"
        )))
    }
}

/// The answer of an object route: status, type header, JSON.
pub struct ObjectAnswer {
    pub status: StatusCode,
    pub link: bool,
    pub body: Value,
}

impl IntoResponse for ObjectAnswer {
    fn into_response(self) -> Response {
        let t = if self.link { "link" } else { "object" };
        (
            self.status,
            [(
                HeaderName::from_static(OBJECT_TYPE),
                HeaderValue::from_static(t),
            )],
            Json(self.body),
        )
            .into_response()
    }
}

/// Announce an object for `owner` (§6.2): 409 when this owner has the
/// blob (or a link), 409 `link` when a public copy could be linked, else a
/// record without blob and 200 with a PUT URL (after the quota check).
pub async fn announce(
    hub: &AppState,
    owner: &str,
    caller_prn: &str,
    a: Announce,
    autolink: bool,
) -> ApiResult<ObjectAnswer> {
    if owner.is_empty() {
        return Err(ApiError::forbidden(
            "device not claimed: objects need an owner",
        ));
    }
    let sha = a.sha256sum.to_ascii_lowercase();
    if sha.is_empty() {
        return Err(ApiError::bad_request("sha256sum is required"));
    }
    check_sha(&sha)?;
    if !a.id.is_empty() && a.id != sha {
        return Err(ApiError::bad_request("id must equal sha256sum"));
    }
    let size = match &a.size {
        Value::String(s) if !s.is_empty() => s
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(format!("size {s:?} is not a number")))?,
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| ApiError::bad_request("size is not an integer"))?,
        _ => a.sizeint.unwrap_or(0),
    };
    if size < 0 {
        return Err(ApiError::bad_request("negative size"));
    }
    let db = &hub.store.db;
    let with_put = owner == caller_prn;
    if let Some(o) = db.object(owner, &sha).await? {
        if o.uploaded {
            return Ok(ObjectAnswer {
                status: StatusCode::CONFLICT,
                link: !o.linked.is_empty(),
                body: render::object_with_access(&hub.cfg, &hub.keys, &o, caller_prn, with_put),
            });
        }
    }
    let now = ph_store::now_nanos();
    let mut rec = ObjectRecord {
        storage_id: storage_id(owner, &sha),
        sha: sha.clone(),
        owner: owner.to_string(),
        objectname: a.objectname,
        size,
        mime_type: a.mime_type,
        linked: String::new(),
        uploaded: false,
        created: now,
        modified: now,
    };
    if autolink {
        if let Some(linked) = db.public_object(&sha).await? {
            if let Some(src) = db.object_by_storage_id(&linked).await? {
                rec.linked = linked;
                rec.uploaded = true;
                rec.size = src.size;
                rec.mime_type = src.mime_type;
                db.put_object(&rec).await?;
                return Ok(ObjectAnswer {
                    status: StatusCode::CONFLICT,
                    link: true,
                    body: render::object_with_access(
                        &hub.cfg, &hub.keys, &rec, caller_prn, with_put,
                    ),
                });
            }
        }
    }
    let used = db.object_usage(owner, &rec.storage_id).await?;
    if used.saturating_add(size) > hub.cfg.objects_quota {
        return Err(ApiError::internal(format!(
            "Quota exceeded; delete some objects or request a quota bump ({} of {} bytes used)",
            used, hub.cfg.objects_quota
        )));
    }
    db.put_object(&rec).await?;
    let rec = db.object(owner, &sha).await?.unwrap_or(rec);
    Ok(ObjectAnswer {
        status: StatusCode::OK,
        link: false,
        body: render::object_with_access(&hub.cfg, &hub.keys, &rec, caller_prn, with_put),
    })
}

/// Make sure `owner` may use every object of a state: an uploaded record,
/// or (autolink) a link to a public copy. Returns the shas.
pub async fn resolve_state_objects(
    hub: &AppState,
    owner: &str,
    state: &Value,
    autolink: bool,
) -> ApiResult<Vec<String>> {
    let mut shas = vec![];
    for (key, sha) in render::object_entries(state) {
        let ok = match hub.store.db.object(owner, &sha).await? {
            Some(o) => o.uploaded,
            None => false,
        };
        if !ok {
            let linked = autolink
                && announce(
                    hub,
                    owner,
                    owner,
                    Announce {
                        objectname: key.clone(),
                        sha256sum: sha.clone(),
                        size: Value::Null,
                        sizeint: None,
                        mime_type: String::new(),
                        id: String::new(),
                    },
                    true,
                )
                .await
                .is_ok_and(|a| a.link);
            if !linked {
                return Err(ApiError::bad_request(format!(
                    "object {sha} ({key}) was never uploaded"
                )));
            }
        }
        shas.push(sha);
    }
    shas.sort();
    shas.dedup();
    Ok(shas)
}

async fn list(State(hub): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let owner = caller.need_user()?;
    caller.need_scope("objects", false)?;
    let list = hub.store.db.objects_of(owner).await?;
    Ok(Json(Value::Array(
        list.iter().map(render::object).collect(),
    )))
}

async fn announce_route(
    State(hub): State<AppState>,
    caller: Caller,
    Query(q): Query<AutolinkQuery>,
    JsonBody(a): JsonBody<Announce>,
) -> ApiResult<ObjectAnswer> {
    caller.need_scope("objects", true)?;
    let owner = caller.account().to_string();
    announce(&hub, &owner, &owner, a, q.on()).await
}

/// The record of `sha` for the caller's account; 404 if there is none
/// (or no blob yet).
pub async fn own_record(hub: &AppState, caller: &Caller, sha: &str) -> ApiResult<ObjectRecord> {
    check_sha(sha)?;
    hub.store
        .db
        .object(caller.account(), sha)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no object {sha}")))
}

async fn get(
    State(hub): State<AppState>,
    caller: Caller,
    Path(sha): Path<String>,
) -> ApiResult<ObjectAnswer> {
    caller.need_scope("objects", false)?;
    let o = own_record(&hub, &caller, &sha).await?;
    let with_put = caller.user_prn() == Some(o.owner.as_str());
    Ok(ObjectAnswer {
        status: StatusCode::OK,
        link: !o.linked.is_empty(),
        body: render::object_with_access(&hub.cfg, &hub.keys, &o, caller.account(), with_put),
    })
}

async fn blob(
    State(hub): State<AppState>,
    caller: Caller,
    Path(sha): Path<String>,
) -> ApiResult<Response> {
    caller.need_scope("objects", false)?;
    let o = own_record(&hub, &caller, &sha).await?;
    Ok(redirect_to(&render::signed_url(
        &hub.cfg,
        &hub.keys,
        &o,
        caller.account(),
        "GET",
    )))
}

#[derive(Deserialize)]
struct RenameBody {
    #[serde(default)]
    objectname: Option<String>,
    #[serde(default)]
    sha256sum: Option<String>,
    #[serde(default)]
    owner: Option<String>,
}

async fn rename(
    State(hub): State<AppState>,
    caller: Caller,
    Path(sha): Path<String>,
    JsonBody(b): JsonBody<RenameBody>,
) -> ApiResult<Json<Value>> {
    let owner = caller.need_user()?.to_string();
    caller.need_scope("objects", true)?;
    let o = own_record(&hub, &caller, &sha).await?;
    if b.sha256sum.as_deref().is_some_and(|s| s != o.sha)
        || b.owner.as_deref().is_some_and(|s| s != o.owner)
    {
        return Err(ApiError::forbidden("sha256sum and owner cannot be changed"));
    }
    if let Some(n) = b.objectname {
        hub.store.db.rename_object(&owner, &sha, &n).await?;
    }
    let o = own_record(&hub, &caller, &sha).await?;
    Ok(Json(render::object(&o)))
}

async fn delete(
    State(hub): State<AppState>,
    caller: Caller,
    Path(sha): Path<String>,
) -> ApiResult<Json<Value>> {
    let owner = caller.need_user()?.to_string();
    caller.need_scope("objects", true)?;
    let o = own_record(&hub, &caller, &sha).await?;
    hub.store.db.delete_object(&owner, &sha).await?;
    Ok(Json(render::object(&o)))
}

/// 302 to a signed GET URL (used by trails too).
pub fn redirect_to(url: &str) -> Response {
    (
        StatusCode::FOUND,
        [(header::LOCATION, url.to_string())],
        Json(json!({})),
    )
        .into_response()
}
