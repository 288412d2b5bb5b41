//! The SQL pool and migrations.

use std::path::Path;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use crate::{Result, StoreError};

/// Nanoseconds since the Unix epoch, now.
pub fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The SQL database. Queries use `$n` placeholders, which both SQLite and
/// PostgreSQL understand.
///
/// Reads go to `pool`, writes (and every transaction that writes) to
/// `writer`. On SQLite the writer is one connection: SQLite lets one
/// writer in at a time anyway, and queueing writers in the pool costs
/// microseconds where several connections racing for the write lock cost
/// busy-handler sleeps (1 to 100 ms each) and, for a transaction that
/// read before writing, SQLITE_BUSY errors no timeout can cure. WAL
/// readers are never blocked by the writer. On PostgreSQL both are the
/// same pool.
#[derive(Clone, Debug)]
pub struct Db {
    pub(crate) pool: AnyPool,
    pub(crate) writer: AnyPool,
    /// PostgreSQL (else SQLite), for the few queries whose SQL differs.
    pub(crate) postgres: bool,
}

/// Readers of a SQLite database (WAL: they do not wait for the writer).
const SQLITE_READERS: u32 = 8;

impl Db {
    /// Open (creating if needed) a SQLite database file in WAL mode and
    /// bring its schema up to date.
    pub async fn open_sqlite(path: &Path) -> Result<Self> {
        let url = format!("sqlite://{}?mode=rwc", path.display());
        Self::open_url(&url).await
    }

    /// Open a database by URL (`sqlite:` or `postgres:`/`postgresql:`) and
    /// bring its schema up to date. Several hubs may open one PostgreSQL
    /// database at once: sqlx takes an advisory lock around migrations.
    pub async fn open_url(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let opts = AnyConnectOptions::from_str(url)?;
        if url.starts_with("sqlite:") {
            let sqlite = |n: u32| {
                AnyPoolOptions::new()
                    .max_connections(n)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("PRAGMA journal_mode=WAL").await?;
                            conn.execute("PRAGMA synchronous=NORMAL").await?;
                            // other processes (`pantahub user add` while serving)
                            conn.execute("PRAGMA busy_timeout=10000").await?;
                            Ok(())
                        })
                    })
            };
            let writer = sqlite(1).connect_with(opts.clone()).await?;
            SQLITE_MIGRATIONS.run(&writer).await?;
            let pool = sqlite(SQLITE_READERS).connect_with(opts).await?;
            return Ok(Db {
                pool,
                writer,
                postgres: false,
            });
        }
        if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .connect_with(opts)
                .await?;
            POSTGRES_MIGRATIONS.run(&pool).await?;
            return Ok(Db {
                writer: pool.clone(),
                pool,
                postgres: true,
            });
        }
        Err(StoreError::Url(url.into()))
    }

    /// The pool for reading, for queries not covered here.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The pool for writing (one connection on SQLite).
    pub fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// A trivial round trip (health checks).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.writer).await?;
        Ok(())
    }
}
