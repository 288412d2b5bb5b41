//! `/auth`: logins (users, devices, anonymous readers), refresh, claims,
//! accounts and their verification.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{limits, Table};
use crate::error::{ApiError, ApiResult};
use crate::extract::{unauthorized, AuthJson, Caller};
use crate::render;
use crate::tokens::{SCOPE_ALL, SCOPE_PREFIX};
use crate::users::{self, issue, TokenFor, UserError};
use crate::util::{normalize_prn, prn_id, random_lower};
use crate::AppState;

pub fn routes(t: Table) -> Table {
    t.post("/auth/login", limits::SMALL, login)
        .get("/auth/login", refresh)
        .get("/auth/auth_status", auth_status)
        .get("/auth", own_account)
        .get("/auth/accounts", list_accounts)
        .post("/auth/accounts", limits::SMALL, create_account)
        .get("/auth/verify", verify)
}

/// The anonymous login name.
pub const ANON: &str = "prn:pantahub.com:auth:/anon";

#[derive(Deserialize)]
struct Login {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    scope: String,
}

fn failed() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "Authentication Failed")
}

async fn login(
    State(hub): State<AppState>,
    headers: HeaderMap,
    AuthJson(l): AuthJson<Login>,
) -> ApiResult<Json<Value>> {
    if !headers.contains_key(header::USER_AGENT) {
        return Err(ApiError::forbidden(
            "Incompatible Client; upgrade pantavisor",
        ));
    }
    let name = normalize_prn(l.username.trim());
    let token = if name == ANON {
        anon_token(&hub, &l.scope)
    } else if name.starts_with("prn:::devices:/") {
        let d = hub
            .store
            .db
            .device_by_id(prn_id(&name))
            .await?
            .ok_or_else(failed)?;
        if d.secret.is_empty() || d.secret != l.password {
            return Err(failed());
        }
        issue(
            &hub.keys,
            &TokenFor {
                id: &name,
                prn: &d.prn,
                nick: &d.nick,
                kind: "DEVICE",
                roles: "device",
                scopes: SCOPE_ALL,
                owner: Some(&d.owner),
                lifetime_secs: hub.cfg.token_secs,
            },
        )
    } else {
        let db = &hub.store.db;
        let a = if name.contains('@') {
            db.account_by_email(&name).await?
        } else if name.starts_with("prn:") {
            db.account_by_prn(&name).await?
        } else {
            db.account_by_nick(&name).await?
        };
        let a = a.ok_or_else(failed)?;
        if !a.challenge.is_empty() {
            return Err(failed());
        }
        let (pw, hash) = (l.password.clone(), a.password_hash.clone());
        let ok = tokio::task::spawn_blocking(move || users::verify_password(&pw, &hash))
            .await
            .unwrap_or(false);
        if !ok {
            return Err(failed());
        }
        users::user_token(&hub.keys, &a, &l.username, hub.cfg.token_secs)
    };
    Ok(Json(json!({ "token": token })))
}

fn anon_token(hub: &AppState, scope: &str) -> String {
    let scopes: Vec<String> = scope
        .split_whitespace()
        .map(|s| {
            if s.starts_with("prn:") {
                s.to_string()
            } else {
                format!("{SCOPE_PREFIX}{s}")
            }
        })
        .filter(|s| s.ends_with(".readonly"))
        .collect();
    // no read-only scope asked: an anonymous reader still may only read
    let scopes = if scopes.is_empty() {
        format!("{SCOPE_PREFIX}devices.readonly {SCOPE_PREFIX}trails.readonly {SCOPE_PREFIX}objects.readonly")
    } else {
        scopes.join(" ")
    };
    let prn = format!("{ANON}-{}", random_lower(12));
    issue(
        &hub.keys,
        &TokenFor {
            id: ANON,
            prn: &prn,
            nick: "anon",
            kind: "USER",
            roles: "anon",
            scopes: &scopes,
            owner: None,
            lifetime_secs: hub.cfg.anon_secs,
        },
    )
}

async fn refresh(State(hub): State<AppState>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let tok = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| unauthorized(&hub, "missing bearer token"))?;
    let mut c = hub
        .keys
        .verify(tok.trim())
        .ok_or_else(|| unauthorized(&hub, "invalid or expired token"))?;
    let now = ph_store::now_nanos() / 1_000_000_000;
    if c.orig_iat + hub.cfg.refresh_secs < now {
        return Err(unauthorized(&hub, "token too old to refresh"));
    }
    let life = if c.prn.starts_with(&format!("{ANON}-")) {
        hub.cfg.anon_secs
    } else {
        hub.cfg.token_secs
    };
    c.exp = (now + life).max(c.exp);
    Ok(Json(json!({ "token": hub.keys.sign(&c) })))
}

pub(crate) async fn auth_status(caller: Caller) -> Json<Value> {
    Json(serde_json::to_value(&caller.claims).unwrap_or_default())
}

async fn own_account(State(hub): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let prn = caller.need_user()?;
    let a = hub
        .store
        .db
        .account_by_prn(prn)
        .await?
        .ok_or_else(|| ApiError::not_found("no account for this token"))?;
    Ok(Json(render::account(&a)))
}

async fn list_accounts(
    State(hub): State<AppState>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let prn = caller.need_user()?;
    if q.contains_key("asadmin") && caller.claims.roles != "admin" {
        return Err(ApiError::forbidden("not an admin"));
    }
    let list: Vec<Value> = if q.contains_key("asadmin") {
        hub.store
            .db
            .accounts()
            .await?
            .iter()
            .map(render::account)
            .collect()
    } else {
        hub.store
            .db
            .account_by_prn(prn)
            .await?
            .iter()
            .map(render::account)
            .collect()
    };
    Ok(Json(Value::Array(list)))
}

#[derive(Deserialize)]
struct NewAccountBody {
    #[serde(default)]
    email: String,
    #[serde(default)]
    nick: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    id: String,
}

async fn create_account(
    State(hub): State<AppState>,
    AuthJson(b): AuthJson<NewAccountBody>,
) -> ApiResult<Json<Value>> {
    if !b.id.is_empty() {
        return Err(ApiError::precondition("an account id cannot be chosen"));
    }
    let a = users::add_user(&hub.store, &b.nick, &b.email, &b.password, false)
        .await
        .map_err(|e| match e {
            UserError::Invalid(m) => ApiError::precondition(m),
            UserError::Taken => ApiError::precondition("nick or email already taken"),
            UserError::Store(e) => e.into(),
        })?;
    // no mail service: the verification link is logged for the operator
    tracing::info!(
        "account {} created; verify at {}/auth/verify?id={}&challenge={}",
        a.nick,
        hub.cfg.public_url,
        a.id,
        a.challenge
    );
    Ok(Json(render::account(&a)))
}

#[derive(Deserialize)]
struct VerifyQuery {
    #[serde(default)]
    id: String,
    #[serde(default)]
    challenge: String,
}

async fn verify(
    State(hub): State<AppState>,
    Query(q): Query<VerifyQuery>,
) -> ApiResult<Json<Value>> {
    let db = &hub.store.db;
    db.account_by_id(&q.id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such account"))?;
    if !db.verify_account(&q.id, &q.challenge).await? {
        return Err(ApiError::precondition("wrong or used challenge"));
    }
    let a = db
        .account_by_id(&q.id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such account"))?;
    Ok(Json(render::account(&a)))
}
