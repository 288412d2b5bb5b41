//! API errors: a status and a JSON body `{"error": <message>, "msg":
//! <message>, "code": <status>}`. The original put an opaque id in `error`;
//! clients only look at the status, so ours carries the reason.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub msg: String,
    /// Extra headers (the WWW-Authenticate of a 401).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, msg: impl Into<String>) -> Self {
        ApiError {
            status,
            msg: msg.into(),
            headers: vec![],
        }
    }
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, msg)
    }
    pub fn forbidden(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, msg)
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, msg)
    }
    pub fn conflict(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, msg)
    }
    pub fn precondition(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::PRECONDITION_FAILED, msg)
    }
    pub fn internal(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, msg)
    }
    pub fn with_header(mut self, name: header::HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!("{}: {}", self.status, self.msg);
        }
        let mut body = json!({
            "error": self.msg,
            "msg": self.msg,
            "code": self.status.as_u16(),
        });
        if self.status == StatusCode::UNAUTHORIZED {
            // what the original's JWT middleware answers
            body["Error"] = json!("Not Authorized");
        }
        let mut r = (self.status, axum::Json(body)).into_response();
        for (k, v) in self.headers {
            r.headers_mut().insert(k, v);
        }
        r
    }
}

impl From<ph_store::StoreError> for ApiError {
    fn from(e: ph_store::StoreError) -> Self {
        match e {
            ph_store::StoreError::Conflict(m) => ApiError::conflict(m),
            e => ApiError::internal(e.to_string()),
        }
    }
}

impl From<object_store_error::Error> for ApiError {
    fn from(e: object_store_error::Error) -> Self {
        ApiError::internal(format!("object store: {e}"))
    }
}

/// The object store's error, through ph-store's re-export.
pub(crate) mod object_store_error {
    pub use ph_store::ObjectStoreError as Error;
}
