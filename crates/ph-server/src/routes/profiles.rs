//! `/profiles/config/meta`: an account's global user-meta, merged under
//! every device's own user-meta.

use axum::extract::State;
use axum::Json;
use serde_json::{Map, Value};

use super::{limits, Table};
use crate::error::ApiResult;
use crate::extract::{Caller, JsonBody};
use crate::AppState;

pub fn routes(t: Table) -> Table {
    t.get("/profiles/config/meta", get_meta)
        .put("/profiles/config/meta", limits::SMALL, put_meta)
}

async fn get_meta(State(hub): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let owner = caller.need_user()?;
    Ok(Json(Value::Object(hub.store.db.profile_meta(owner).await?)))
}

async fn put_meta(
    State(hub): State<AppState>,
    caller: Caller,
    JsonBody(m): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let owner = caller.need_user()?;
    hub.store.db.set_profile_meta(owner, &m).await?;
    Ok(Json(Value::Object(m)))
}
