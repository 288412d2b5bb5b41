//! The Pantahub HTTP API.
//!
//! ```text
//!  devices / pvr / browsers
//!        │ HTTP(S)  (hyper, rustls)
//!        ▼
//!  serve ── NormalizePath ── Router ── routes::{auth, devices, trails, objects, blobs, logs, rollouts, profiles, health}
//!                                         │  extract::Caller (JWT RS256, tokens::Keys)
//!                                         ▼
//!                                   ph_store::Store (SQL + blobs)
//! ```
//!
//! Every route is registered through [`routes::table`], which also yields
//! the (method, path) list the OpenAPI file is checked against.

pub mod error;
pub mod extract;
pub mod fault;
pub mod render;
pub mod reqlog;
pub mod rollouts;
pub mod routes;
pub mod serve;
pub mod tokens;
pub mod users;
pub mod util;

use std::path::Path;
use std::sync::Arc;

pub use serve::{serve, tls_config, ServeError};
pub use tokens::{Claims, Keys};

/// Tunables of a hub.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Base of every absolute URL handed out (`https://hub.example:12366`),
    /// without a trailing slash.
    pub public_url: String,
    /// Bytes of objects an account may hold (the OBJECTS quota).
    pub objects_quota: i64,
    /// Lifetime of user and device tokens.
    pub token_secs: i64,
    /// How long after the first login a token may be refreshed.
    pub refresh_secs: i64,
    /// Lifetime of anonymous tokens.
    pub anon_secs: i64,
    /// Lifetime of signed object URLs.
    pub object_url_secs: i64,
}

impl HubConfig {
    pub fn new(public_url: &str) -> Self {
        HubConfig {
            public_url: public_url.trim_end_matches('/').to_string(),
            objects_quota: 2 << 30,
            token_secs: 60 * 60,
            refresh_secs: 24 * 60 * 60,
            anon_secs: 5 * 60,
            object_url_secs: 24 * 60 * 60,
        }
    }
}

/// One hub: its store, keys and configuration.
pub struct Hub {
    pub store: ph_store::Store,
    pub keys: Keys,
    pub cfg: HubConfig,
    pub started: std::time::Instant,
}

/// The state every handler gets.
pub type AppState = Arc<Hub>;

impl Hub {
    /// A hub over a data directory (database, objects and keys in `dir`).
    pub async fn open_dir(dir: &Path, cfg: HubConfig) -> Result<AppState, OpenError> {
        Self::open(dir, None, None, cfg).await
    }

    /// A hub whose database is at `database` (a `sqlite:` or `postgres:`
    /// URL; the signing keys are then kept in it, shared by every hub
    /// process on that database) and whose objects are in `objects`
    /// (`s3://bucket/prefix`) when given; everything else in `dir`.
    pub async fn open(
        dir: &Path,
        database: Option<&str>,
        objects: Option<&str>,
        cfg: HubConfig,
    ) -> Result<AppState, OpenError> {
        let store = ph_store::Store::open(dir, database, objects).await?;
        let keys = match database {
            Some(_) => Keys::shared(&store.db).await?,
            None => Keys::load_or_create(dir)?,
        };
        Ok(Arc::new(Hub {
            store,
            keys,
            cfg,
            started: std::time::Instant::now(),
        }))
    }
}

/// Opening a hub failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] ph_store::StoreError),
    #[error(transparent)]
    Keys(#[from] tokens::KeyError),
}

/// The complete service: the router with paths normalized (a trailing
/// `/` is dropped, so `/devices/` and `/devices` are one route).
pub fn app(state: AppState) -> serve::App {
    let (router, _) = routes::table(state);
    serve::normalize(router)
}

/// The service with another router in front (the web console,
/// `ph-console`): its routes answer first, every other request goes to
/// the API.
pub fn app_with(state: AppState, front: axum::Router) -> serve::App {
    let (router, _) = routes::table(state);
    serve::normalize(front.fallback_service(router))
}
