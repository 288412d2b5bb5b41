//! `/devices`: registration, join tokens, claim, listing, nick, public
//! flag, user-meta and device-meta.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::Json;
use ph_store::{Device, DeviceToken};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{limits, Table};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, JsonBody, MaybeCaller, OptJson, Who};
use crate::render::{self, DeviceView};
use crate::util::{
    device_prn, new_id, normalize_prn, random_letters, random_lower, sha256_hex, valid_device_nick,
    word, words,
};
use crate::AppState;

pub fn routes(t: Table) -> Table {
    t.post("/devices", limits::SMALL, create)
        .get("/devices", list)
        .post("/devices/tokens", limits::SMALL, create_token)
        .get("/devices/tokens", list_tokens)
        .delete("/devices/tokens/{id}", disable_token)
        .get("/devices/auth_status", super::auth::auth_status)
        .get("/devices/np/{usernick}/{devicenick}", by_owner_nick)
        .get("/devices/{id}", get)
        .put("/devices/{id}", limits::SMALL, put)
        .patch("/devices/{id}", patch_nick)
        .delete("/devices/{id}", delete)
        .put("/devices/{id}/public", limits::SMALL, set_public)
        .delete("/devices/{id}/public", unset_public)
        .get("/devices/{id}/user-meta", get_user_meta)
        .put("/devices/{id}/user-meta", limits::SMALL, put_user_meta)
        .patch("/devices/{id}/user-meta", patch_user_meta)
        .get("/devices/{id}/device-meta", get_device_meta)
        .put("/devices/{id}/device-meta", limits::SMALL, put_device_meta)
        .patch("/devices/{id}/device-meta", patch_device_meta)
}

/// The join-token header.
pub const AUTO_TOKEN_HEADER: &str = "pantahub-devices-auto-token-v1";

pub(crate) fn is_id(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

pub(crate) fn is_owner(c: &Caller, d: &Device) -> bool {
    matches!(&c.who, Who::User { prn, .. } if !d.owner.is_empty() && *prn == d.owner)
}

pub(crate) fn is_self(c: &Caller, d: &Device) -> bool {
    c.device_id() == Some(d.id.as_str())
}

async fn owner_nick(hub: &AppState, owner: &str) -> ApiResult<String> {
    if owner.is_empty() {
        return Ok(String::new());
    }
    Ok(hub
        .store
        .db
        .account_by_prn(owner)
        .await?
        .map(|a| a.nick)
        .unwrap_or_default())
}

/// Global (profile) user-meta under the device's own (device keys win).
pub(crate) async fn merged_user_meta(hub: &AppState, d: &Device) -> ApiResult<Map<String, Value>> {
    let mut m = if d.owner.is_empty() {
        Map::new()
    } else {
        hub.store.db.profile_meta(&d.owner).await?
    };
    for (k, v) in &d.user_meta {
        m.insert(k.clone(), v.clone());
    }
    Ok(m)
}

async fn view(hub: &AppState, c: Option<&Caller>, d: &Device, secret: bool) -> ApiResult<Value> {
    let own = c.is_some_and(|c| is_owner(c, d) || is_self(c, d));
    let v = if secret {
        DeviceView::WithSecret
    } else if own {
        DeviceView::Own
    } else {
        DeviceView::Public
    };
    let um = merged_user_meta(hub, d).await?;
    Ok(render::device(d, v, &owner_nick(hub, &d.owner).await?, &um))
}

/// Find a device by id or nick as the caller addresses it: a nick is
/// looked up among the caller's devices, or `?owner=`/`?owner-nick=`'s.
async fn find(
    hub: &AppState,
    c: &Caller,
    key: &str,
    q: &HashMap<String, String>,
) -> ApiResult<Device> {
    let db = &hub.store.db;
    if is_id(key) {
        if let Some(d) = db.device_by_id(key).await? {
            return Ok(d);
        }
    }
    if !valid_device_nick(key) {
        return Err(ApiError::bad_request(format!(
            "invalid device id or nick {key:?}"
        )));
    }
    let owner = if let Some(o) = q.get("owner") {
        normalize_prn(o)
    } else if let Some(n) = q.get("owner-nick") {
        db.account_by_nick(n)
            .await?
            .map(|a| a.prn)
            .ok_or_else(|| ApiError::not_found(format!("no user {n:?}")))?
    } else {
        c.account().to_string()
    };
    if owner.is_empty() {
        return Err(ApiError::not_found(format!("no device {key:?}")));
    }
    db.device_by_owner_nick(&owner, key)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no device {key:?}")))
}

/// Read access: the owner, the device itself, anyone with a token if public.
pub(crate) fn can_read(c: &Caller, d: &Device) -> bool {
    is_owner(c, d) || is_self(c, d) || d.public
}

#[derive(Deserialize, Default)]
struct CreateBody {
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    nick: Option<String>,
    #[serde(default, rename = "user-meta")]
    user_meta: Option<Map<String, Value>>,
    #[serde(default, rename = "device-meta")]
    device_meta: Option<Map<String, Value>>,
}

async fn create(
    State(hub): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    headers: HeaderMap,
    OptJson(body): OptJson<CreateBody>,
) -> ApiResult<Json<Value>> {
    if !headers.contains_key(axum::http::header::USER_AGENT) {
        return Err(ApiError::forbidden(
            "Incompatible Client; upgrade pantavisor",
        ));
    }
    let b = body.unwrap_or_default();
    if let Some(n) = &b.nick {
        if !valid_device_nick(n) {
            return Err(ApiError::bad_request(format!("invalid nick {n:?}")));
        }
    }
    let now = ph_store::now_nanos();
    let id = new_id();
    let mut d = Device {
        prn: device_prn(&id),
        id,
        nick: String::new(),
        owner: String::new(),
        secret: b
            .secret
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| random_lower(15)),
        challenge: String::new(),
        public: false,
        user_meta: Map::new(),
        device_meta: b.device_meta.unwrap_or_default(),
        created: now,
        modified: now,
    };
    let join = headers
        .get(AUTO_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty());
    match (&caller, join) {
        (Some(c), _) => {
            // a user creates a device it owns (pvr device create)
            let prn = c.need_user()?;
            c.need_scope("devices", true)?;
            d.owner = prn.to_string();
            d.user_meta = b.user_meta.unwrap_or_default();
            d.device_meta = Map::new();
        }
        (None, Some(tok)) => {
            let t = join_token(&hub, tok).await?;
            d.owner = t.owner;
            d.user_meta = t.default_user_meta;
        }
        (None, None) => {
            d.challenge = words(3, "-");
        }
    }
    d.nick = match b.nick {
        Some(n) => n,
        None if d.owner.is_empty() => {
            format!("__unregistered__{}_{}", word(), random_letters(10))
        }
        None => format!("{}_{}", words(3, "_"), random_letters(4)),
    };
    hub.store.db.create_device(&d).await?;
    Ok(Json(view(&hub, None, &d, true).await?))
}

async fn join_token(hub: &AppState, tok: &str) -> ApiResult<DeviceToken> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(tok)
        .map_err(|_| ApiError::bad_request("malformed join token"))?;
    let t = hub
        .store
        .db
        .device_token_by_sha(&sha256_hex(&raw))
        .await?
        .ok_or_else(|| ApiError::bad_request("unknown join token"))?;
    if t.disabled {
        return Err(ApiError::bad_request("join token disabled"));
    }
    Ok(t)
}

async fn list(
    State(hub): State<AppState>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    caller.need_scope("devices", false)?;
    let db = &hub.store.db;
    let devices = if let Some(id) = caller.device_id() {
        db.device_by_id(id).await?.into_iter().collect()
    } else {
        let owner = if let Some(o) = q.get("owner") {
            let o = normalize_prn(o);
            if !o.starts_with("prn:") {
                return Err(ApiError::forbidden("bad owner prn"));
            }
            o
        } else if let Some(n) = q.get("owner-nick") {
            match db.account_by_nick(n).await? {
                Some(a) => a.prn,
                None => return Ok(Json(json!([]))),
            }
        } else {
            caller.prn().to_string()
        };
        db.devices_of(&owner, owner != caller.prn()).await?
    };
    let mut out = vec![];
    for d in &devices {
        let v = view(&hub, Some(&caller), d, false).await?;
        if matches_filters(&v, &q) {
            out.push(v);
        }
    }
    Ok(Json(Value::Array(out)))
}

/// Extra query parameters filter on top-level fields: `v` equal, `!v` not
/// equal, `^v` case-insensitive prefix.
fn matches_filters(v: &Value, q: &HashMap<String, String>) -> bool {
    q.iter()
        .filter(|(k, _)| !matches!(k.as_str(), "owner" | "owner-nick"))
        .all(|(k, want)| {
            let have = match v.get(k) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            if let Some(p) = want.strip_prefix('^') {
                have.to_lowercase().starts_with(&p.to_lowercase())
            } else if let Some(n) = want.strip_prefix('!') {
                have != n
            } else {
                have == *want
            }
        })
}

async fn get(
    State(hub): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    caller.need_scope("devices", false)?;
    let d = find(&hub, &caller, &key, &q).await?;
    if !can_read(&caller, &d) {
        return Err(ApiError::forbidden("not your device"));
    }
    Ok(Json(view(&hub, Some(&caller), &d, false).await?))
}

async fn by_owner_nick(
    State(hub): State<AppState>,
    caller: Caller,
    Path((usernick, devicenick)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    caller.need_scope("devices", false)?;
    let db = &hub.store.db;
    let a = db
        .account_by_nick(&usernick)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no user {usernick:?}")))?;
    let d = db
        .device_by_owner_nick(&a.prn, &devicenick)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no device {devicenick:?}")))?;
    if !can_read(&caller, &d) {
        return Err(ApiError::forbidden("not your device"));
    }
    Ok(Json(view(&hub, Some(&caller), &d, false).await?))
}

async fn load(hub: &AppState, id: &str) -> ApiResult<Device> {
    hub.store
        .db
        .device_by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no device {id:?}")))
}

#[derive(Deserialize)]
struct ClaimQuery {
    challenge: Option<String>,
}

/// Claim (a user with the challenge) or update (owner: nick, user-meta;
/// the device itself: device-meta, secret).
async fn put(
    State(hub): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(cq): Query<ClaimQuery>,
    OptJson(body): OptJson<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    caller.need_scope("devices", true)?;
    let mut d = load(&hub, &id).await?;
    let body = body.unwrap_or_default();
    for k in ["id", "prn", "owner", "time-created"] {
        if let Some(v) = body.get(k) {
            let cur = match k {
                "id" => json!(d.id),
                "prn" => json!(d.prn),
                "owner" => json!(d.owner),
                _ => v.clone(),
            };
            if *v != cur {
                return Err(ApiError::forbidden(format!("{k} cannot be changed")));
            }
        }
    }
    if let Some(ch) = cq.challenge.as_deref().filter(|c| !c.is_empty()) {
        let user = caller.need_user()?;
        if !d.owner.is_empty() || d.challenge.is_empty() || d.challenge != ch {
            return Err(ApiError::forbidden(
                "wrong challenge or device already claimed",
            ));
        }
        let nick = format!("{}_{}", words(3, "_"), random_letters(4));
        if !hub.store.db.claim_device(&d.id, ch, user, &nick).await? {
            return Err(ApiError::forbidden("device was claimed meanwhile"));
        }
        d = load(&hub, &id).await?;
    } else if !(is_owner(&caller, &d) || is_self(&caller, &d)) {
        return Err(ApiError::forbidden("not your device"));
    }
    if let Some(n) = body.get("nick").and_then(Value::as_str) {
        if n != d.nick {
            if !valid_device_nick(n) {
                return Err(ApiError::bad_request(format!("invalid nick {n:?}")));
            }
            d.nick = n.to_string();
        }
    }
    if let Some(s) = body.get("secret") {
        match s.as_str() {
            Some(s) if !s.is_empty() => d.secret = s.to_string(),
            _ => return Err(ApiError::forbidden("the secret cannot be empty")),
        }
    }
    if let Some(p) = body.get("public").and_then(Value::as_bool) {
        if p != d.public {
            if !is_owner(&caller, &d) {
                return Err(ApiError::forbidden("only the owner changes public"));
            }
            d.public = p;
        }
    }
    if let Some(m) = body.get("user-meta").and_then(Value::as_object) {
        if is_owner(&caller, &d) {
            d.user_meta = m.clone();
        }
    }
    if let Some(m) = body.get("device-meta").and_then(Value::as_object) {
        if is_self(&caller, &d) {
            d.device_meta = m.clone();
        }
    }
    hub.store.db.update_device(&d).await?;
    Ok(Json(view(&hub, Some(&caller), &d, true).await?))
}

#[derive(Deserialize)]
struct NickBody {
    nick: String,
}

async fn patch_nick(
    State(hub): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<NickBody>,
) -> ApiResult<Json<Value>> {
    caller.need_scope("devices", true)?;
    let mut d = load(&hub, &id).await?;
    if !(is_owner(&caller, &d) || is_self(&caller, &d)) || d.owner.is_empty() {
        return Err(ApiError::forbidden("not your device"));
    }
    if !valid_device_nick(&b.nick) {
        return Err(ApiError::bad_request(format!("invalid nick {:?}", b.nick)));
    }
    d.nick = b.nick;
    hub.store.db.update_device(&d).await?;
    Ok(Json(view(&hub, Some(&caller), &d, false).await?))
}

async fn delete(
    State(hub): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.need_scope("devices", true)?;
    let d = load(&hub, &id).await?;
    if !is_owner(&caller, &d) {
        return Err(ApiError::forbidden("not your device"));
    }
    let v = view(&hub, Some(&caller), &d, false).await?;
    hub.store.db.delete_device(&d.id).await?;
    Ok(Json(v))
}

async fn set_public_to(
    hub: AppState,
    caller: Caller,
    id: String,
    p: bool,
) -> ApiResult<Json<Value>> {
    caller.need_scope("devices", true)?;
    let mut d = load(&hub, &id).await?;
    if !is_owner(&caller, &d) {
        return Err(ApiError::forbidden("only the owner changes public"));
    }
    d.public = p;
    hub.store.db.update_device(&d).await?;
    Ok(Json(view(&hub, Some(&caller), &d, false).await?))
}

async fn set_public(
    State(hub): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    set_public_to(hub, caller, id, true).await
}

async fn unset_public(
    State(hub): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    set_public_to(hub, caller, id, false).await
}

async fn get_user_meta(
    State(hub): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    caller.need_scope("devices", false)?;
    let d = find(&hub, &caller, &key, &q).await?;
    if !(is_owner(&caller, &d) || is_self(&caller, &d)) {
        return Err(ApiError::forbidden("not your device"));
    }
    Ok(Json(Value::Object(merged_user_meta(&hub, &d).await?)))
}

async fn put_user_meta(
    State(hub): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(m): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    caller.need_scope("devices", true)?;
    let d = load(&hub, &id).await?;
    if !(is_owner(&caller, &d) || is_self(&caller, &d)) {
        return Err(ApiError::forbidden("not your device"));
    }
    hub.store.db.set_user_meta(&d.id, &m).await?;
    Ok(Json(Value::Object(m)))
}

async fn patch_user_meta(
    State(hub): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    JsonBody(patch): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    caller.need_scope("devices", true)?;
    let mut d = find(&hub, &caller, &key, &q).await?;
    if !is_owner(&caller, &d) {
        return Err(ApiError::forbidden("not your device"));
    }
    for (k, v) in &patch {
        if v.is_null() {
            d.user_meta.remove(k);
        } else {
            d.user_meta.insert(k.clone(), v.clone());
        }
    }
    hub.store.db.set_user_meta(&d.id, &d.user_meta).await?;
    Ok(Json(Value::Object(patch)))
}

async fn get_device_meta(
    State(hub): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.need_scope("devices", false)?;
    let d = load(&hub, &id).await?;
    if !(is_owner(&caller, &d) || is_self(&caller, &d)) {
        return Err(ApiError::forbidden("not your device"));
    }
    Ok(Json(Value::Object(d.device_meta)))
}

fn device_self(caller: &Caller, id: &str) -> ApiResult<()> {
    match caller.device_id() {
        None => Err(ApiError::bad_request(
            "only the device writes its device-meta",
        )),
        Some(me) if me != id => Err(ApiError::forbidden("not this device")),
        Some(_) => Ok(()),
    }
}

async fn put_device_meta(
    State(hub): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(m): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    device_self(&caller, &id)?;
    if !hub.store.db.set_device_meta(&id, &m).await? {
        return Err(ApiError::not_found("no such device"));
    }
    Ok(Json(json!({"status": "ok"})))
}

async fn patch_device_meta(
    State(hub): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    device_self(&caller, &id)?;
    let mut d = load(&hub, &id).await?;
    for (k, v) in patch {
        if v.is_null() {
            d.device_meta.remove(&k);
        } else {
            d.device_meta.insert(k, v);
        }
    }
    hub.store.db.set_device_meta(&id, &d.device_meta).await?;
    Ok(Json(json!({"status": "ok"})))
}

#[derive(Deserialize, Default)]
struct TokenBody {
    #[serde(default)]
    nick: String,
    #[serde(default, rename = "default-user-meta")]
    default_user_meta: Map<String, Value>,
}

async fn create_token(
    State(hub): State<AppState>,
    caller: Caller,
    OptJson(b): OptJson<TokenBody>,
) -> ApiResult<Json<Value>> {
    let owner = caller
        .user_prn()
        .ok_or_else(|| ApiError::bad_request("only users create join tokens"))?
        .to_string();
    caller.need_scope("devices", true)?;
    let b = b.unwrap_or_default();
    let (t, token) =
        crate::users::add_join_token(&hub.store, &owner, &b.nick, b.default_user_meta).await?;
    Ok(Json(render::device_token(&t, Some(&token))))
}

async fn list_tokens(State(hub): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let owner = caller.need_user()?;
    let list = hub.store.db.device_tokens_of(owner).await?;
    Ok(Json(Value::Array(
        list.iter().map(|t| render::device_token(t, None)).collect(),
    )))
}

async fn disable_token(
    State(hub): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let owner = caller.need_user()?;
    caller.need_scope("devices", true)?;
    if !hub.store.db.disable_device_token(owner, &id).await? {
        return Err(ApiError::not_found("no such token"));
    }
    Ok(Json(json!({"status": "OK"})))
}
