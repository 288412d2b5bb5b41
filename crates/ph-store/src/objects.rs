//! Object records: one per (owner, sha), keyed by storage id.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{now_nanos, Db, Result};

/// A stored object record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRecord {
    /// hex sha256(owner prn + "/" + sha).
    pub storage_id: String,
    pub sha: String,
    pub owner: String,
    pub objectname: String,
    pub size: i64,
    pub mime_type: String,
    /// Storage id of the public record this one links to (empty: none).
    pub linked: String,
    /// Whether this owner's blob was uploaded and verified (or linked).
    pub uploaded: bool,
    pub created: i64,
    pub modified: i64,
}

const COLS: &str =
    "storage_id, sha, owner, objectname, size, mime_type, linked, uploaded, created, modified";

fn row(r: &AnyRow) -> Result<ObjectRecord> {
    Ok(ObjectRecord {
        storage_id: r.try_get("storage_id")?,
        sha: r.try_get("sha")?,
        owner: r.try_get("owner")?,
        objectname: r.try_get("objectname")?,
        size: r.try_get("size")?,
        mime_type: r.try_get("mime_type")?,
        linked: r.try_get("linked")?,
        uploaded: r.try_get::<i64, _>("uploaded")? != 0,
        created: r.try_get("created")?,
        modified: r.try_get("modified")?,
    })
}

impl Db {
    pub async fn object(&self, owner: &str, sha: &str) -> Result<Option<ObjectRecord>> {
        let r = sqlx::query(&format!(
            "SELECT {COLS} FROM objects WHERE owner = $1 AND sha = $2"
        ))
        .bind(owner)
        .bind(sha)
        .fetch_optional(&self.pool)
        .await?;
        r.as_ref().map(row).transpose()
    }

    pub async fn object_by_storage_id(&self, sid: &str) -> Result<Option<ObjectRecord>> {
        let r = sqlx::query(&format!("SELECT {COLS} FROM objects WHERE storage_id = $1"))
            .bind(sid)
            .fetch_optional(&self.pool)
            .await?;
        r.as_ref().map(row).transpose()
    }

    /// Every record of an owner, oldest first.
    pub async fn objects_of(&self, owner: &str) -> Result<Vec<ObjectRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM objects WHERE owner = $1 ORDER BY created, storage_id"
        ))
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row).collect()
    }

    /// Bytes counted against an owner's quota, not counting `except` (the
    /// record about to be replaced).
    pub async fn object_usage(&self, owner: &str, except: &str) -> Result<i64> {
        let r = sqlx::query(
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS s FROM objects WHERE owner = $1 AND storage_id <> $2",
        )
        .bind(owner)
        .bind(except)
        .fetch_one(&self.pool)
        .await?;
        Ok(r.try_get::<i64, _>("s")?)
    }

    /// Insert a record, or update name/size/mime/link of an existing one
    /// that has no blob yet.
    pub async fn put_object(&self, o: &ObjectRecord) -> Result<()> {
        let now = now_nanos();
        sqlx::query(&format!(
            "INSERT INTO objects ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
             ON CONFLICT (storage_id) DO UPDATE SET objectname = excluded.objectname, \
             size = excluded.size, mime_type = excluded.mime_type, linked = excluded.linked, \
             uploaded = excluded.uploaded, modified = excluded.modified"
        ))
        .bind(&o.storage_id)
        .bind(&o.sha)
        .bind(&o.owner)
        .bind(&o.objectname)
        .bind(o.size)
        .bind(&o.mime_type)
        .bind(&o.linked)
        .bind(o.uploaded as i64)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Record that the blob of a record was uploaded and verified.
    pub async fn mark_uploaded(&self, storage_id: &str) -> Result<bool> {
        let r = sqlx::query("UPDATE objects SET uploaded = 1, modified = $2 WHERE storage_id = $1")
            .bind(storage_id)
            .bind(now_nanos())
            .execute(&self.writer)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Rename an object of an owner.
    pub async fn rename_object(&self, owner: &str, sha: &str, name: &str) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE objects SET objectname = $3, modified = $4 WHERE owner = $1 AND sha = $2",
        )
        .bind(owner)
        .bind(sha)
        .bind(name)
        .bind(now_nanos())
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn delete_object(&self, owner: &str, sha: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM objects WHERE owner = $1 AND sha = $2")
            .bind(owner)
            .bind(sha)
            .execute(&self.writer)
            .await?;
        Ok(r.rows_affected() == 1)
    }
}
