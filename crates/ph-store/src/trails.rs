//! Trails (one per device, id = device id) and their steps (revisions).

use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::{conflict, json_col, now_nanos, Db, Result, StoreError};

/// A stored trail.
#[derive(Debug, Clone, PartialEq)]
pub struct Trail {
    pub id: String,
    pub owner: String,
    pub device: String,
    pub factory_state: Value,
    pub last_insync: i64,
    pub last_touched: i64,
    pub created: i64,
    pub modified: i64,
}

/// A stored step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub trail_id: String,
    pub rev: i64,
    pub owner: String,
    pub device: String,
    pub committer: String,
    pub commit_msg: String,
    pub state: Value,
    pub state_sha: String,
    /// Kept as the device sent it (an open object).
    pub progress: Value,
    /// `progress.status`, kept apart for queries.
    pub status: String,
    pub meta: Value,
    pub step_time: i64,
    pub progress_time: i64,
    pub created: i64,
    pub modified: i64,
}

/// A step to insert. `rev: None` takes the next rev after the highest.
#[derive(Debug, Clone)]
pub struct NewStep {
    pub trail_id: String,
    pub rev: Option<i64>,
    pub owner: String,
    pub device: String,
    pub committer: String,
    pub commit_msg: String,
    pub state: Value,
    pub state_sha: String,
    pub progress: Value,
    pub status: String,
    pub meta: Value,
    /// The object shas the state references.
    pub objects: Vec<String>,
    pub progress_time: i64,
}

/// Which steps of a trail to list (rev ascending).
#[derive(Debug, Clone, Default)]
pub struct StepFilter {
    /// Only steps whose status is one of these.
    pub status_in: Option<Vec<String>>,
    /// Only steps whose status is none of these.
    pub status_not_in: Option<Vec<String>>,
    pub limit: Option<i64>,
    pub offset: i64,
}

const TCOLS: &str =
    "id, owner, device, factory_state, last_insync, last_touched, created, modified";
const SCOLS: &str = "trail_id, rev, owner, device, committer, commit_msg, state, state_sha, \
                     progress, status, meta, step_time, progress_time, created, modified";

fn trail_row(r: &AnyRow) -> Result<Trail> {
    Ok(Trail {
        id: r.try_get("id")?,
        owner: r.try_get("owner")?,
        device: r.try_get("device")?,
        factory_state: json_col(&r.try_get::<String, _>("factory_state")?, "factory_state")?,
        last_insync: r.try_get("last_insync")?,
        last_touched: r.try_get("last_touched")?,
        created: r.try_get("created")?,
        modified: r.try_get("modified")?,
    })
}

fn step_row(r: &AnyRow) -> Result<Step> {
    Ok(Step {
        trail_id: r.try_get("trail_id")?,
        rev: r.try_get("rev")?,
        owner: r.try_get("owner")?,
        device: r.try_get("device")?,
        committer: r.try_get("committer")?,
        commit_msg: r.try_get("commit_msg")?,
        state: json_col(&r.try_get::<String, _>("state")?, "state")?,
        state_sha: r.try_get("state_sha")?,
        progress: json_col(&r.try_get::<String, _>("progress")?, "progress")?,
        status: r.try_get("status")?,
        meta: json_col(&r.try_get::<String, _>("meta")?, "meta")?,
        step_time: r.try_get("step_time")?,
        progress_time: r.try_get("progress_time")?,
        created: r.try_get("created")?,
        modified: r.try_get("modified")?,
    })
}

fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn insert_step(tx: &mut Transaction<'_, Any>, s: &NewStep, rev: i64) -> Result<Step> {
    let now = now_nanos();
    sqlx::query(&format!(
        "INSERT INTO steps ({SCOLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $12, $12)"
    ))
    .bind(&s.trail_id)
    .bind(rev)
    .bind(&s.owner)
    .bind(&s.device)
    .bind(&s.committer)
    .bind(&s.commit_msg)
    .bind(s.state.to_string())
    .bind(&s.state_sha)
    .bind(s.progress.to_string())
    .bind(&s.status)
    .bind(s.meta.to_string())
    .bind(now)
    .bind(s.progress_time)
    .execute(&mut **tx)
    .await
    .map_err(|e| conflict(e, "step rev taken"))?;
    for sha in &s.objects {
        sqlx::query(
            "INSERT INTO step_objects (trail_id, rev, sha) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(&s.trail_id)
        .bind(rev)
        .bind(sha)
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query("UPDATE trails SET last_touched = $2, modified = $2 WHERE id = $1")
        .bind(&s.trail_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(Step {
        trail_id: s.trail_id.clone(),
        rev,
        owner: s.owner.clone(),
        device: s.device.clone(),
        committer: s.committer.clone(),
        commit_msg: s.commit_msg.clone(),
        state: s.state.clone(),
        state_sha: s.state_sha.clone(),
        progress: s.progress.clone(),
        status: s.status.clone(),
        meta: s.meta.clone(),
        step_time: now,
        progress_time: s.progress_time,
        created: now,
        modified: now,
    })
}

/// Append a step in a transaction (see [`Db::add_step`]).
pub(crate) async fn append_step(tx: &mut Transaction<'_, Any>, s: &NewStep) -> Result<Step> {
    let max: Option<i64> = sqlx::query("SELECT MAX(rev) AS m FROM steps WHERE trail_id = $1")
        .bind(&s.trail_id)
        .fetch_one(&mut **tx)
        .await?
        .try_get("m")?;
    let rev = match s.rev {
        None => max.map_or(0, |m| m + 1),
        Some(r) => {
            let prev = sqlx::query("SELECT 1 AS one FROM steps WHERE trail_id = $1 AND rev = $2")
                .bind(&s.trail_id)
                .bind(r - 1)
                .fetch_optional(&mut **tx)
                .await?;
            if r < 1 || prev.is_none() {
                return Err(StoreError::Conflict(format!(
                    "rev {} does not exist",
                    r - 1
                )));
            }
            r
        }
    };
    insert_step(tx, s, rev).await
}

impl Db {
    /// Create a trail with its rev-0 step, atomically; an existing trail
    /// is a conflict.
    pub async fn create_trail(&self, t: &Trail, step0: &NewStep) -> Result<(Trail, Step)> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO trails ({TCOLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(&t.id)
        .bind(&t.owner)
        .bind(&t.device)
        .bind(t.factory_state.to_string())
        .bind(t.last_insync)
        .bind(t.last_touched)
        .bind(t.created)
        .bind(t.modified)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict(e, "trail exists"))?;
        let step = insert_step(&mut tx, step0, 0).await?;
        tx.commit().await?;
        Ok((t.clone(), step))
    }

    pub async fn trail_by_id(&self, id: &str) -> Result<Option<Trail>> {
        let r = sqlx::query(&format!("SELECT {TCOLS} FROM trails WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        r.as_ref().map(trail_row).transpose()
    }

    pub async fn trails_of(&self, owner: &str) -> Result<Vec<Trail>> {
        let rows = sqlx::query(&format!(
            "SELECT {TCOLS} FROM trails WHERE owner = $1 ORDER BY created, id"
        ))
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(trail_row).collect()
    }

    /// Append a step. With `rev: None` the rev is one past the highest;
    /// with `Some(r)`, step `r-1` must exist (else [`StoreError::Conflict`]
    /// "previous rev missing") and `r` must be free.
    pub async fn add_step(&self, s: &NewStep) -> Result<Step> {
        let mut tx = self.writer.begin().await?;
        let step = append_step(&mut tx, s).await?;
        tx.commit().await?;
        Ok(step)
    }

    pub async fn step(&self, trail: &str, rev: i64) -> Result<Option<Step>> {
        let r = sqlx::query(&format!(
            "SELECT {SCOLS} FROM steps WHERE trail_id = $1 AND rev = $2"
        ))
        .bind(trail)
        .bind(rev)
        .fetch_optional(&self.pool)
        .await?;
        r.as_ref().map(step_row).transpose()
    }

    /// The step with the highest rev.
    pub async fn latest_step(&self, trail: &str) -> Result<Option<Step>> {
        let r = sqlx::query(&format!(
            "SELECT {SCOLS} FROM steps WHERE trail_id = $1 ORDER BY rev DESC LIMIT 1"
        ))
        .bind(trail)
        .fetch_optional(&self.pool)
        .await?;
        r.as_ref().map(step_row).transpose()
    }

    /// Steps of a trail, rev ascending.
    pub async fn steps(&self, trail: &str, f: &StepFilter) -> Result<Vec<Step>> {
        let mut q = format!("SELECT {SCOLS} FROM steps WHERE trail_id = $1");
        let mut binds: Vec<String> = vec![];
        if let Some(v) = &f.status_in {
            if v.is_empty() {
                return Ok(vec![]);
            }
            q += &format!(" AND status IN ({})", placeholders(2, v.len()));
            binds.extend(v.iter().cloned());
        }
        if let Some(v) = &f.status_not_in {
            if !v.is_empty() {
                q += &format!(
                    " AND status NOT IN ({})",
                    placeholders(2 + binds.len(), v.len())
                );
                binds.extend(v.iter().cloned());
            }
        }
        q += " ORDER BY rev";
        match (f.limit, f.offset) {
            (Some(l), o) => q += &format!(" LIMIT {} OFFSET {}", l.max(0), o.max(0)),
            (None, o) if o > 0 => q += &format!(" LIMIT {} OFFSET {o}", i64::MAX),
            _ => {}
        }
        let mut query = sqlx::query(&q).bind(trail);
        for b in &binds {
            query = query.bind(b);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(step_row).collect()
    }

    /// Store a progress report; false if the step does not exist.
    pub async fn set_step_progress(
        &self,
        trail: &str,
        rev: i64,
        progress: &Value,
        status: &str,
    ) -> Result<bool> {
        let now = now_nanos();
        let r = sqlx::query(
            "UPDATE steps SET progress = $3, status = $4, progress_time = $5, modified = $5 \
             WHERE trail_id = $1 AND rev = $2",
        )
        .bind(trail)
        .bind(rev)
        .bind(progress.to_string())
        .bind(status)
        .bind(now)
        .execute(&self.writer)
        .await?;
        if r.rows_affected() == 1 {
            sqlx::query("UPDATE trails SET last_touched = $2 WHERE id = $1")
                .bind(trail)
                .bind(now)
                .execute(&self.writer)
                .await?;
        }
        Ok(r.rows_affected() == 1)
    }

    /// Replace progress only while the status is `from` (cancel, wontgo,
    /// state edits); false if the step is absent or in another status.
    pub async fn set_step_progress_if(
        &self,
        trail: &str,
        rev: i64,
        from: &str,
        progress: &Value,
        status: &str,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE steps SET progress = $4, status = $5, progress_time = $6, modified = $6 \
             WHERE trail_id = $1 AND rev = $2 AND status = $3",
        )
        .bind(trail)
        .bind(rev)
        .bind(from)
        .bind(progress.to_string())
        .bind(status)
        .bind(now_nanos())
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Replace the state of a step still in status NEW.
    pub async fn set_step_state_if_new(
        &self,
        trail: &str,
        rev: i64,
        state: &Value,
        sha: &str,
        objects: &[String],
    ) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        let now = now_nanos();
        let r = sqlx::query(
            "UPDATE steps SET state = $3, state_sha = $4, step_time = $5, modified = $5 \
             WHERE trail_id = $1 AND rev = $2 AND status = 'NEW'",
        )
        .bind(trail)
        .bind(rev)
        .bind(state.to_string())
        .bind(sha)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM step_objects WHERE trail_id = $1 AND rev = $2")
            .bind(trail)
            .bind(rev)
            .execute(&mut *tx)
            .await?;
        for sha in objects {
            sqlx::query(
                "INSERT INTO step_objects (trail_id, rev, sha) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(trail)
            .bind(rev)
            .bind(sha)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    pub async fn set_step_meta(&self, trail: &str, rev: i64, meta: &Value) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE steps SET meta = $3, modified = $4 WHERE trail_id = $1 AND rev = $2",
        )
        .bind(trail)
        .bind(rev)
        .bind(meta.to_string())
        .bind(now_nanos())
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Whether some step of a public device references `sha`, and the
    /// storage id of that device owner's uploaded record for it.
    pub async fn public_object(&self, sha: &str) -> Result<Option<String>> {
        let r = sqlx::query(
            "SELECT o.storage_id AS sid FROM step_objects so \
             JOIN devices d ON d.id = so.trail_id \
             JOIN objects o ON o.owner = d.owner AND o.sha = so.sha \
             WHERE so.sha = $1 AND d.public = 1 AND o.uploaded = 1 LIMIT 1",
        )
        .bind(sha)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match r {
            Some(r) => Some(r.try_get("sid")?),
            None => None,
        })
    }
}
