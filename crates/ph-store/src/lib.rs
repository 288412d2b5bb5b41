//! Pantahub persistence.
//!
//! ```text
//!  ph-server ──▶ Store ─┬─ Db (sqlx Any pool: SQLite in WAL mode by default,
//!                       │      PostgreSQL by URL; every query is portable SQL
//!                       │      with `$n` placeholders, each engine has its
//!                       │      migrations dir)
//!                       └─ Blobs (object_store: a local directory or an S3 bucket; blobs
//!                              keyed by content sha, uploads verified while
//!                              streaming and published only when they match)
//! ```
//!
//! Records are plain structs ([`Account`], [`Device`], [`Trail`], [`Step`],
//! [`ObjectRecord`], [`LogEntry`], [`Rollout`]); JSON-valued columns are kept as
//! `serde_json::Value` in memory and TEXT in the database; times are
//! nanoseconds since the Unix epoch. Access rules live in the server: the
//! store answers what it is asked.

mod accounts;
mod blobs;
mod db;
mod devices;
mod fleet;
mod logs;
mod objects;
mod rollouts;
mod secrets;
mod trails;

pub use accounts::{Account, NewAccount};
pub use blobs::{BlobError, BlobRange, BlobRead, Blobs};
pub use db::{now_nanos, Db};
pub use devices::{Device, DeviceToken};
pub use fleet::{FleetCounts, FleetQuery, FleetRow, LogFilter};
pub use logs::{LogEntry, LogQuery, LogSort};
pub use object_store::Error as ObjectStoreError;
pub use objects::ObjectRecord;
pub use rollouts::{Rollout, RolloutStep};
pub use trails::{NewStep, Step, StepFilter, Trail};

use std::path::Path;

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A uniqueness rule refused the write (nick, email, rev…).
    #[error("already exists: {0}")]
    Conflict(String),
    #[error("corrupt record: {0}")]
    Corrupt(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("unsupported database URL {0:?} (this build knows sqlite: and postgres:)")]
    Url(String),
    #[error("object store {0}")]
    Objects(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The database and the blob store of one hub.
#[derive(Clone)]
pub struct Store {
    pub db: Db,
    pub blobs: Blobs,
}

impl Store {
    /// Everything in `dir`: `pantahub.db` (SQLite, WAL) and `objects/`.
    pub async fn open_dir(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let db = Db::open_sqlite(&dir.join("pantahub.db")).await?;
        let blobs = Blobs::local(&dir.join("objects"))?;
        Ok(Store { db, blobs })
    }

    /// The database at `database` (a `sqlite:` or `postgres:` URL) when
    /// given, else `dir/pantahub.db`; objects in the bucket of `objects`
    /// (`s3://bucket/prefix`) when given, else in `dir/objects/`.
    pub async fn open(dir: &Path, database: Option<&str>, objects: Option<&str>) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let db = match database {
            Some(url) => Db::open_url(url).await?,
            None => Db::open_sqlite(&dir.join("pantahub.db")).await?,
        };
        let blobs = match objects {
            Some(url) => Blobs::s3(url)?,
            None => Blobs::local(&dir.join("objects"))?,
        };
        Ok(Store { db, blobs })
    }
}

/// Unique-constraint failures become [`StoreError::Conflict`].
pub(crate) fn conflict(e: sqlx::Error, what: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(what.into()),
        _ => StoreError::Db(e),
    }
}

pub(crate) fn json_col(s: &str, col: &str) -> Result<serde_json::Value> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}
