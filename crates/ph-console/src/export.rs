//! A pvr export (`pvr export`: a tar or tar.gz of `json` and
//! `objects/<sha>`) uploaded from the rollout form: read strictly by
//! `pv-export` (every object verified as it streams by), its objects
//! announced and uploaded through the API as the session's user, and its
//! state given back for the rollout.

use axum::body::Bytes;
use axum::extract::Extension;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::rollouts::Api;
use crate::session::Session;

/// The largest export accepted.
pub const MAX: usize = 1 << 30;

fn refuse(code: StatusCode, msg: impl Into<String>) -> Response {
    (code, msg.into()).into_response()
}

/// An object of an export: its name in the state, sha and bytes.
type Object = (String, String, Vec<u8>);

/// Read the export into a temporary pool: its state and objects.
fn read(bytes: &[u8]) -> Result<(Value, Vec<Object>), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let file = dir.path().join("export.tar");
    std::fs::write(&file, bytes).map_err(|e| format!("{}: {e}", file.display()))?;
    let pool = pv_objects::ObjectStore::open(dir.path().join("pool")).map_err(|e| e.to_string())?;
    let content = pv_export::read_export(&file, &pool).map_err(|e| e.to_string())?;
    let mut objects = vec![];
    for (name, id) in content.state.objects() {
        let data = pool.read(&id).map_err(|e| e.to_string())?;
        objects.push((name.to_string(), id.to_string(), data));
    }
    Ok((Value::Object(content.state.into_map()), objects))
}

/// `POST /ui/rollouts/export` (the page's script sends the file as the
/// body, the CSRF token in `X-CSRF-Token`): the export's state as JSON.
pub async fn upload(
    Extension(api): Extension<Api>,
    s: Session,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let csrf = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Err(r) = s.check(csrf) {
        return r;
    }
    let read = tokio::task::spawn_blocking(move || read(&body)).await;
    let (state, objects) = match read {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => return refuse(StatusCode::BAD_REQUEST, format!("the export: {e}")),
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    for (name, sha, data) in objects {
        let announce =
            json!({"objectname": name, "sha256sum": sha, "size": data.len().to_string()});
        let (st, v) = api.call(&s, "POST", "/objects", Some(announce)).await;
        if st == StatusCode::CONFLICT {
            continue;
        }
        let url = v["signed-puturl"].as_str().unwrap_or("");
        let Some(at) = url.find("/local-s3/").filter(|_| st.is_success()) else {
            return refuse(st, format!("object {name}: {v}"));
        };
        let (st, v) = api.call_bytes(&s, "PUT", &url[at..], data).await;
        if !st.is_success() {
            return refuse(st, format!("object {name}: {v}"));
        }
    }
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        state.to_string(),
    )
        .into_response()
}
