//! Request extractors: the authenticated caller, JSON bodies (any content
//! type, clear 400/413 errors) and canonical JSON answers.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;
use crate::tokens::Claims;
use crate::AppState;

/// Who is calling, after the token was verified.
#[derive(Debug, Clone)]
pub enum Who {
    /// A user (or an anonymous reader: prn `prn:pantahub.com:auth:/anon-…`).
    User { prn: String, nick: String },
    /// A device; `owner` is the device's owner now ("" while unclaimed).
    Device {
        id: String,
        prn: String,
        owner: String,
    },
}

/// The authenticated caller of a route.
#[derive(Debug, Clone)]
pub struct Caller {
    pub claims: Claims,
    pub who: Who,
}

impl Caller {
    pub fn prn(&self) -> &str {
        match &self.who {
            Who::User { prn, .. } | Who::Device { prn, .. } => prn,
        }
    }
    pub fn user_prn(&self) -> Option<&str> {
        match &self.who {
            Who::User { prn, .. } => Some(prn),
            Who::Device { .. } => None,
        }
    }
    pub fn device_id(&self) -> Option<&str> {
        match &self.who {
            Who::Device { id, .. } => Some(id),
            Who::User { .. } => None,
        }
    }
    /// The account acting: a user itself, a device's owner.
    pub fn account(&self) -> &str {
        match &self.who {
            Who::User { prn, .. } => prn,
            Who::Device { owner, .. } => owner,
        }
    }
    /// 403 unless the token's scopes allow this service.
    pub fn need_scope(&self, service: &str, write: bool) -> Result<(), ApiError> {
        if self.claims.allows(service, write) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "token lacks a scope for {service}{}",
                if write { " (write)" } else { "" }
            ))
            .with_header(
                header::WWW_AUTHENTICATE,
                &format!(
                    "Bearer Realm=\"pantahub services\", scope=\"{service}\", error=\"insufficient_scope\""
                ),
            ))
        }
    }
    /// 403 unless a user.
    pub fn need_user(&self) -> Result<&str, ApiError> {
        self.user_prn()
            .ok_or_else(|| ApiError::forbidden("only a user may do this"))
    }
    /// 403 unless a device.
    pub fn need_device(&self) -> Result<(&str, &str, &str), ApiError> {
        match &self.who {
            Who::Device { id, prn, owner } => Ok((id, prn, owner)),
            Who::User { .. } => Err(ApiError::forbidden("only a device may do this")),
        }
    }
}

/// The 401 answer, with the header pvr uses to find the login endpoint.
pub fn unauthorized(state: &AppState, why: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, why.to_string()).with_header(
        header::WWW_AUTHENTICATE,
        &format!(
            "JWT realm=\"pantahub services\", ph-aeps=\"{}/auth\"",
            state.cfg.public_url
        ),
    )
}

fn bearer(parts: &Parts) -> Option<&str> {
    let v = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    Some(v.strip_prefix("Bearer ").unwrap_or("").trim())
}

/// Verify a bearer token into a caller (devices are looked up: a deleted
/// device's token is refused, the owner is the current one).
pub async fn caller_of(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    let claims = state
        .keys
        .verify(token)
        .ok_or_else(|| unauthorized(state, "invalid or expired token"))?;
    let who = if claims.kind == "DEVICE" {
        let id = crate::util::prn_id(&claims.prn).to_string();
        let d = state
            .store
            .db
            .device_by_id(&id)
            .await?
            .ok_or_else(|| unauthorized(state, "device no longer exists"))?;
        Who::Device {
            id: d.id,
            prn: d.prn,
            owner: d.owner,
        }
    } else {
        Who::User {
            prn: claims.prn.clone(),
            nick: claims.nick.clone(),
        }
    };
    Ok(Caller { claims, who })
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match bearer(parts) {
            Some(t) if !t.is_empty() => caller_of(state, t).await,
            _ => Err(unauthorized(state, "missing bearer token")),
        }
    }
}

/// A caller if an `Authorization` header was sent (then it must be valid).
pub struct MaybeCaller(pub Option<Caller>);

impl FromRequestParts<AppState> for MaybeCaller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            Ok(MaybeCaller(Some(
                Caller::from_request_parts(parts, state).await?,
            )))
        } else {
            Ok(MaybeCaller(None))
        }
    }
}

async fn body_bytes(req: Request, state: &AppState) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
        } else {
            ApiError::bad_request(format!("reading the request body: {e}"))
        }
    })
}

fn parse<T: DeserializeOwned>(b: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(b)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))
}

/// A JSON body, whatever the content type says.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let b = body_bytes(req, state).await?;
        Ok(JsonBody(parse(&b)?))
    }
}

/// A JSON body that may be empty (None).
pub struct OptJson<T>(pub Option<T>);

impl<T: DeserializeOwned> FromRequest<AppState> for OptJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let b = body_bytes(req, state).await?;
        if b.iter().all(|c| c.is_ascii_whitespace()) {
            return Ok(OptJson(None));
        }
        Ok(OptJson(Some(parse(&b)?)))
    }
}

/// `/auth` bodies: like the original, a non-empty body must say
/// `Content-Type: application/json` (415 otherwise).
pub struct AuthJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for AuthJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let json_ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"));
        let b = body_bytes(req, state).await?;
        if !b.is_empty() && !json_ct {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Bad Content-Type or charset, expected 'application/json'",
            ));
        }
        Ok(AuthJson(parse(&b)?))
    }
}

/// A canonical JSON answer (trails service): compact, sorted keys, with
/// the `PhJsonFormat` header.
pub struct Canon(pub Value);

impl IntoResponse for Canon {
    fn into_response(self) -> Response {
        let body = pv_json::to_canonical(&self.0);
        (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (
                    header::HeaderName::from_static("phjsonformat"),
                    HeaderValue::from_static("gibson042-canonicaljson"),
                ),
            ],
            body,
        )
            .into_response()
    }
}
