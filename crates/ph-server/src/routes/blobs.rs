//! Signed blob URLs: `/local-s3/<token>` (and `/s3/<token>`). The token
//! (HS256) is the authorization; it names the storage id, size, sha and
//! method. Uploads are verified while streaming; downloads support HEAD
//! and a single `Range`.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use ph_store::{BlobError, BlobRange};

use super::Table;
use crate::error::{ApiError, ApiResult};
use crate::tokens::ObjectClaims;
use crate::AppState;

pub fn routes(t: Table) -> Table {
    t.add(&["GET", "HEAD", "PUT"], "/local-s3/{token}", 0, blob)
        .add(&["GET", "HEAD", "PUT"], "/s3/{token}", 0, blob)
}

async fn blob(
    State(hub): State<AppState>,
    Path(token): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let c = hub
        .keys
        .verify_object(&token)
        .ok_or_else(|| ApiError::forbidden("invalid or expired object token"))?;
    let m = req.method().clone();
    let want = if m == Method::PUT { "PUT" } else { "GET" };
    if c.method != want {
        return Err(ApiError::forbidden(format!(
            "this URL is for {}, not {}",
            c.method, m
        )));
    }
    if m == Method::PUT {
        put(hub, c, req).await
    } else {
        get(hub, c, m == Method::HEAD, req).await
    }
}

async fn put(hub: AppState, c: ObjectClaims, req: Request) -> ApiResult<Response> {
    let rec = hub
        .store
        .db
        .object_by_storage_id(&c.aud)
        .await?
        .ok_or_else(|| ApiError::not_found("the object record of this URL is gone"))?;
    if rec.sha != c.sha || rec.size != c.size {
        return Err(ApiError::forbidden(
            "the object record changed since this URL was made",
        ));
    }
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len != c.size as u64 {
            return Err(ApiError::bad_request(format!(
                "Content-Length {len} but the object has {} bytes",
                c.size
            )));
        }
    }
    let body = req.into_body().into_data_stream();
    match hub
        .store
        .blobs
        .put_verified(&c.sha, c.size as u64, body)
        .await
    {
        Ok(()) => {}
        Err(BlobError::Store(e)) => return Err(e.into()),
        Err(BlobError::File(e)) => return Err(ApiError::internal(format!("blob store: {e}"))),
        Err(e) => return Err(ApiError::bad_request(e.to_string())),
    }
    if rec.linked.is_empty() {
        hub.store.db.mark_uploaded(&rec.storage_id).await?;
    }
    Ok(StatusCode::OK.into_response())
}

/// Parse a single-range `Range: bytes=…` header; None when absent or
/// not understood (then the whole blob is sent).
fn parse_range(h: Option<&HeaderValue>) -> Option<BlobRange> {
    let s = h?.to_str().ok()?.trim().strip_prefix("bytes=")?;
    if s.contains(',') {
        return None;
    }
    let (a, b) = s.split_once('-')?;
    match (a.trim(), b.trim()) {
        ("", n) => n.parse().ok().map(BlobRange::Suffix),
        (a, "") => a.parse().ok().map(BlobRange::From),
        (a, b) => {
            let (a, b): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
            (b >= a).then_some(BlobRange::Bounded(a..b + 1))
        }
    }
}

async fn get(hub: AppState, c: ObjectClaims, head: bool, req: Request) -> ApiResult<Response> {
    let range = parse_range(req.headers().get(header::RANGE));
    let size = hub
        .store
        .blobs
        .size(&c.sha)
        .await?
        .ok_or_else(|| ApiError::not_found("blob not uploaded"))?;
    let unsatisfiable = match &range {
        Some(BlobRange::Bounded(r)) => r.start >= size,
        Some(BlobRange::From(o)) => *o >= size,
        Some(BlobRange::Suffix(n)) => *n == 0,
        None => false,
    };
    if unsatisfiable {
        return Ok((
            StatusCode::RANGE_NOT_SATISFIABLE,
            [(header::CONTENT_RANGE, format!("bytes */{size}"))],
        )
            .into_response());
    }
    let range = range.filter(|_| size > 0);
    let ranged = range.is_some();
    let r = hub
        .store
        .blobs
        .get(&c.sha, range, head)
        .await?
        .ok_or_else(|| ApiError::not_found("blob not uploaded"))?;
    let len = r.range.end - r.range.start;
    let mut resp = if head {
        Response::new(Body::empty())
    } else {
        Response::new(Body::from_stream(r.stream))
    };
    *resp.status_mut() = if ranged {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if ranged {
        if let Ok(v) = HeaderValue::from_str(&format!(
            "bytes {}-{}/{}",
            r.range.start,
            r.range.end.saturating_sub(1),
            r.size
        )) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    let name: String = c
        .disposition_name
        .chars()
        .filter(|ch| !ch.is_control() && *ch != '"' && *ch != '\\')
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let p = |s: &str| parse_range(Some(&HeaderValue::from_str(s).unwrap()));
        assert_eq!(p("bytes=0-9"), Some(BlobRange::Bounded(0..10)));
        assert_eq!(p("bytes=5-"), Some(BlobRange::From(5)));
        assert_eq!(p("bytes=-3"), Some(BlobRange::Suffix(3)));
        assert_eq!(p("bytes=9-2"), None);
        assert_eq!(p("bytes=0-1,4-5"), None);
        assert_eq!(p("items=0-1"), None);
    }
}
