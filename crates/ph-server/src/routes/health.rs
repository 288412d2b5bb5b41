//! `/healthz`: the database answers.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::Table;
use crate::util::rfc3339;
use crate::AppState;

pub fn routes(t: Table) -> Table {
    t.get("/healthz", health)
}

async fn health(State(hub): State<AppState>) -> (StatusCode, Json<Value>) {
    let t = std::time::Instant::now();
    let ok = hub.store.db.ping().await.is_ok();
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let started = ph_store::now_nanos() - hub.started.elapsed().as_nanos() as i64;
    (
        code,
        Json(json!({
            "code": code.as_u16(),
            "duration": format!("{:?}", t.elapsed()),
            "start-time": rfc3339(started),
        })),
    )
}
