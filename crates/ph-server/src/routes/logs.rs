//! `/logs`: device batches in, user queries out (filters, sort, pages,
//! signed cursors).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::Json;
use ph_store::{LogEntry, LogQuery, LogSort};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::devices::is_id;
use super::{limits, Table};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Caller, JsonBody, OptJson};
use crate::render;
use crate::util::{device_prn, normalize_prn, parse_rfc3339};
use crate::AppState;

pub fn routes(t: Table) -> Table {
    t.post("/logs", limits::LOGS, ingest)
        .get("/logs", query)
        .get("/logs/cursor", cursor_get)
        .post("/logs/cursor", limits::SMALL, cursor_post)
}

/// Most entries accepted in one batch.
pub const MAX_BATCH: usize = 10_000;

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn int(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

async fn ingest(
    State(hub): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let (_, prn, owner) = caller.need_device()?;
    if owner.is_empty() {
        return Err(ApiError::forbidden("device not claimed yet"));
    }
    let items = match body {
        Value::Array(a) => a,
        v @ Value::Object(_) => vec![v],
        _ => {
            return Err(ApiError::bad_request(
                "a log entry or an array of entries expected",
            ))
        }
    };
    if items.len() > MAX_BATCH {
        return Err(ApiError::bad_request(format!(
            "more than {MAX_BATCH} entries"
        )));
    }
    let now = ph_store::now_nanos();
    let mut entries = Vec::with_capacity(items.len());
    for it in &items {
        let m = it
            .as_object()
            .ok_or_else(|| ApiError::bad_request("a log entry is a JSON object"))?;
        let lvl = text(m.get("lvl"));
        entries.push(LogEntry {
            id: 0,
            dev: prn.to_string(),
            own: owner.to_string(),
            created: now,
            tsec: int(m.get("tsec")),
            tnano: int(m.get("tnano")),
            rev: text(m.get("rev")),
            plat: text(m.get("plat")),
            src: text(m.get("src")),
            lvl: if lvl.is_empty() { "INFO".into() } else { lvl },
            msg: text(m.get("msg")),
        });
    }
    hub.store.db.insert_logs(&entries).await?;
    Ok(Json(json!({"status": "ok"})))
}

/// What a cursor remembers: the query and where the next page starts.
#[derive(Serialize, Deserialize)]
struct Cursor {
    aud: String,
    exp: i64,
    params: HashMap<String, String>,
    start: i64,
}

fn list(q: &HashMap<String, String>, k: &str) -> Vec<String> {
    q.get(k)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

async fn run_query(
    hub: &AppState,
    caller: &Caller,
    params: HashMap<String, String>,
    start_override: Option<i64>,
) -> ApiResult<Json<Value>> {
    let own = caller.need_user()?.to_string();
    let num = |k: &str, d: i64| -> ApiResult<i64> {
        match params.get(k) {
            Some(v) => v
                .parse()
                .map_err(|_| ApiError::bad_request(format!("{k} must be an integer"))),
            None => Ok(d),
        }
    };
    let start = start_override.unwrap_or(num("start", 0)?);
    let page = num("page", 50)?.clamp(0, 10_000);
    let mut devs = vec![];
    for d in list(&params, "dev") {
        let prn = if d.starts_with("prn:") {
            normalize_prn(&d)
        } else if is_id(&d) {
            device_prn(&d)
        } else {
            match hub.store.db.device_by_owner_nick(&own, &d).await? {
                Some(x) => x.prn,
                None => format!("nick:{d}"),
            }
        };
        devs.push(prn);
    }
    let time = |k: &str| -> ApiResult<Option<i64>> {
        params
            .get(k)
            .map(|v| {
                parse_rfc3339(v)
                    .ok_or_else(|| ApiError::bad_request(format!("{k} is not RFC 3339")))
            })
            .transpose()
    };
    let mut sort = vec![];
    for s in list(&params, "sort") {
        sort.push(
            LogSort::parse(&s)
                .ok_or_else(|| ApiError::bad_request(format!("cannot sort by {s:?}")))?,
        );
    }
    let lq = LogQuery {
        own: own.clone(),
        devs,
        srcs: list(&params, "src"),
        lvls: list(&params, "lvl"),
        plats: list(&params, "plat"),
        revs: list(&params, "rev"),
        after: time("after")?,
        before: time("before")?,
        sort,
        start,
        page,
    };
    let (count, entries) = hub.store.db.query_logs(&lq).await?;
    let mut out = json!({
        "start": start,
        "page": page,
        "count": count,
        "entries": entries.iter().map(render::log_entry).collect::<Vec<_>>(),
    });
    let wants_cursor =
        params.get("cursor").is_some_and(|v| v == "true") || start_override.is_some();
    if wants_cursor {
        let next = start + entries.len() as i64;
        let token = if next < count && !entries.is_empty() {
            hub.keys.sign_any(&Cursor {
                aud: own,
                exp: ph_store::now_nanos() / 1_000_000_000 + 120,
                params,
                start: next,
            })
        } else {
            String::new()
        };
        out["next-cursor"] = json!(token);
    }
    Ok(Json(out))
}

async fn query(
    State(hub): State<AppState>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    run_query(&hub, &caller, q, None).await
}

async fn follow(hub: &AppState, caller: &Caller, token: &str) -> ApiResult<Json<Value>> {
    let c: Cursor = hub
        .keys
        .verify_any(token)
        .ok_or_else(|| ApiError::forbidden("invalid or expired cursor"))?;
    if Some(c.aud.as_str()) != caller.user_prn() {
        return Err(ApiError::forbidden("this cursor belongs to someone else"));
    }
    run_query(hub, caller, c.params, Some(c.start)).await
}

async fn cursor_get(
    State(hub): State<AppState>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let t = q
        .get("next-cursor")
        .ok_or_else(|| ApiError::bad_request("next-cursor is required"))?;
    follow(&hub, &caller, t).await
}

#[derive(Deserialize)]
struct CursorBody {
    #[serde(rename = "next-cursor", default)]
    next_cursor: String,
}

async fn cursor_post(
    State(hub): State<AppState>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
    OptJson(b): OptJson<CursorBody>,
) -> ApiResult<Json<Value>> {
    let t = b
        .map(|b| b.next_cursor)
        .filter(|s| !s.is_empty())
        .or_else(|| q.get("next-cursor").cloned())
        .ok_or_else(|| ApiError::bad_request("next-cursor is required"))?;
    follow(&hub, &caller, &t).await
}
