//! Every route of the API, registered in one table.

mod auth;
mod blobs;
mod devices;
mod health;
mod logs;
pub(crate) mod objects;
mod profiles;
mod rollouts;
pub(crate) mod trails;

use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::routing::{on, MethodFilter};
use axum::Router;

use crate::error::ApiError;
use crate::AppState;

/// Body limits per kind of route.
pub mod limits {
    /// Small JSON documents (logins, metadata, announcements).
    pub const SMALL: usize = 256 << 10;
    /// States and steps (a state lists every file of a revision).
    pub const STATE: usize = 8 << 20;
    /// Log batches (a device sends at most 256 KiB).
    pub const LOGS: usize = 2 << 20;
}

/// Collects routes and their (method, path) list.
pub struct Table {
    router: Router<AppState>,
    list: Vec<(String, String)>,
}

impl Table {
    pub(crate) fn add<H, T>(mut self, methods: &[&str], path: &str, limit: usize, h: H) -> Self
    where
        H: Handler<T, AppState> + Clone + Send + Sync + 'static,
        T: 'static,
    {
        let mut filter: Option<MethodFilter> = None;
        for m in methods {
            let f = match *m {
                "GET" => MethodFilter::GET,
                "HEAD" => MethodFilter::HEAD,
                "POST" => MethodFilter::POST,
                "PUT" => MethodFilter::PUT,
                "PATCH" => MethodFilter::PATCH,
                "DELETE" => MethodFilter::DELETE,
                other => panic!("unknown method {other}"),
            };
            filter = Some(filter.map_or(f, |x| x.or(f)));
            self.list.push((m.to_string(), path.to_string()));
        }
        let layer = if limit == 0 {
            DefaultBodyLimit::disable()
        } else {
            DefaultBodyLimit::max(limit)
        };
        let Some(filter) = filter else { return self };
        self.router = self.router.route(path, on(filter, h.layer(layer)));
        self
    }
    pub fn get<H: Handler<T, AppState> + Clone + Send + Sync + 'static, T: 'static>(
        self,
        path: &str,
        h: H,
    ) -> Self {
        self.add(&["GET"], path, limits::SMALL, h)
    }
    pub fn post<H: Handler<T, AppState> + Clone + Send + Sync + 'static, T: 'static>(
        self,
        path: &str,
        limit: usize,
        h: H,
    ) -> Self {
        self.add(&["POST"], path, limit, h)
    }
    pub fn put<H: Handler<T, AppState> + Clone + Send + Sync + 'static, T: 'static>(
        self,
        path: &str,
        limit: usize,
        h: H,
    ) -> Self {
        self.add(&["PUT"], path, limit, h)
    }
    pub fn patch<H: Handler<T, AppState> + Clone + Send + Sync + 'static, T: 'static>(
        self,
        path: &str,
        h: H,
    ) -> Self {
        self.add(&["PATCH"], path, limits::SMALL, h)
    }
    pub fn delete<H: Handler<T, AppState> + Clone + Send + Sync + 'static, T: 'static>(
        self,
        path: &str,
        h: H,
    ) -> Self {
        self.add(&["DELETE"], path, limits::SMALL, h)
    }
}

async fn no_route() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such route")
}

/// The router and its (method, path) list, paths in axum's `{param}` form.
pub fn table(state: AppState) -> (Router, Vec<(String, String)>) {
    let t = Table {
        router: Router::new(),
        list: vec![],
    };
    let t = auth::routes(t);
    let t = devices::routes(t);
    let t = trails::routes(t);
    let t = objects::routes(t);
    let t = blobs::routes(t);
    let t = logs::routes(t);
    let t = rollouts::routes(t);
    let t = profiles::routes(t);
    let t = health::routes(t);
    let Table { router, list } = t;
    let router = router
        .fallback(no_route)
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this route",
            )
        })
        .with_state(state);
    (router, list)
}

/// The (method, path) list alone.
pub fn route_list() -> Vec<(String, String)> {
    let t = Table {
        router: Router::new(),
        list: vec![],
    };
    let t = health::routes(profiles::routes(rollouts::routes(logs::routes(
        blobs::routes(objects::routes(trails::routes(devices::routes(
            auth::routes(t),
        )))),
    ))));
    t.list
}
