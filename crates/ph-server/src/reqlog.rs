//! One log line per request: method, path (signed-URL tokens and query
//! strings left out), status, duration.

use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

/// The path as logged: no query, and the token of `/local-s3/<jwt>` or
/// `/s3/<jwt>` replaced by `…`.
pub fn loggable_path(path: &str) -> String {
    for p in ["/local-s3/", "/s3/"] {
        if path.starts_with(p) {
            return format!("{p}…");
        }
    }
    path.to_string()
}

pub async fn log_request(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = loggable_path(req.uri().path());
    let r = next.run(req).await;
    tracing::info!(
        target: "pantahub::access",
        "{} {} {} {:.1}ms",
        method,
        path,
        r.status().as_u16(),
        start.elapsed().as_secs_f64() * 1000.0
    );
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_not_logged() {
        assert_eq!(super::loggable_path("/local-s3/eyJabc.def"), "/local-s3/…");
        assert_eq!(super::loggable_path("/devices/abc"), "/devices/abc");
    }
}
