//! Staged rollouts: the record and its compare-and-swap update.
//!
//! The decisions (which wave starts, when a rollout pauses) are the
//! server's; the store keeps the record and guarantees that of two
//! writers who read the same `version`, only one write lands.

use std::collections::HashMap;

use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::trails::append_step;
use crate::{conflict, json_col, now_nanos, Db, NewStep, Result};

/// A stored rollout.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    pub id: String,
    /// The account prn that posted it.
    pub owner: String,
    /// running, paused, done or aborted.
    pub status: String,
    /// Why a rollout paused itself (empty otherwise).
    pub reason: String,
    pub commit_msg: String,
    pub state: Value,
    pub state_sha: String,
    /// Share of ERROR/WONTGO devices in a wave above which it pauses.
    pub threshold: f64,
    /// `[{"devices": [id…], "started": bool, "tolerated": n}]`; the rev
    /// posted to each device is in `rollout_devices` ([`Db::set_rollout_rev`]).
    pub waves: Value,
    /// Bumped by every write; see [`Db::update_rollout`].
    pub version: i64,
    pub created: i64,
    pub modified: i64,
}

const COLS: &str = "id, owner, status, reason, commit_msg, state, state_sha, threshold, \
                    waves, version, created, modified";

fn row(r: &AnyRow) -> Result<Rollout> {
    Ok(Rollout {
        id: r.try_get("id")?,
        owner: r.try_get("owner")?,
        status: r.try_get("status")?,
        reason: r.try_get("reason")?,
        commit_msg: r.try_get("commit_msg")?,
        state: json_col(&r.try_get::<String, _>("state")?, "state")?,
        state_sha: r.try_get("state_sha")?,
        threshold: r.try_get("threshold")?,
        waves: json_col(&r.try_get::<String, _>("waves")?, "waves")?,
        version: r.try_get("version")?,
        created: r.try_get("created")?,
        modified: r.try_get("modified")?,
    })
}

impl Db {
    /// Insert a rollout and index its devices.
    pub async fn create_rollout(&self, r: &Rollout, devices: &[String]) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO rollouts ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(&r.id)
        .bind(&r.owner)
        .bind(&r.status)
        .bind(&r.reason)
        .bind(&r.commit_msg)
        .bind(r.state.to_string())
        .bind(&r.state_sha)
        .bind(r.threshold)
        .bind(r.waves.to_string())
        .bind(r.version)
        .bind(r.created)
        .bind(r.modified)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict(e, "rollout id taken"))?;
        for d in devices {
            sqlx::query(
                "INSERT INTO rollout_devices (rollout_id, device_id) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&r.id)
            .bind(d)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn rollout(&self, id: &str) -> Result<Option<Rollout>> {
        let r = sqlx::query(&format!("SELECT {COLS} FROM rollouts WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        r.as_ref().map(row).transpose()
    }

    /// The rollouts of an account, oldest first.
    pub async fn rollouts_of(&self, owner: &str) -> Result<Vec<Rollout>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM rollouts WHERE owner = $1 ORDER BY created, id"
        ))
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row).collect()
    }

    /// The ids of running rollouts that include a device.
    pub async fn running_rollouts_of_device(&self, device: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT r.id AS id FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout_id \
             WHERE d.device_id = $1 AND r.status = 'running' ORDER BY r.created",
        )
        .bind(device)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("id").map_err(Into::into))
            .collect()
    }

    /// Write status, reason and waves if the stored version is still
    /// `r.version` (one atomic UPDATE: PostgreSQL takes the row lock,
    /// SQLite the database write lock); on success `r.version` is the new
    /// one. False means someone else wrote first: read again and decide again.
    pub async fn update_rollout(&self, r: &mut Rollout) -> Result<bool> {
        let now = now_nanos();
        let res = sqlx::query(
            "UPDATE rollouts SET status = $3, reason = $4, waves = $5, version = version + 1, \
             modified = $6 WHERE id = $1 AND version = $2",
        )
        .bind(&r.id)
        .bind(r.version)
        .bind(&r.status)
        .bind(&r.reason)
        .bind(r.waves.to_string())
        .bind(now)
        .execute(&self.writer)
        .await?;
        if res.rows_affected() == 1 {
            r.version += 1;
            r.modified = now;
            return Ok(true);
        }
        Ok(false)
    }

    /// Record the rev of the step posted to a device of a rollout.
    pub async fn set_rollout_rev(&self, rollout: &str, device: &str, rev: i64) -> Result<()> {
        sqlx::query("UPDATE rollout_devices SET rev = $3 WHERE rollout_id = $1 AND device_id = $2")
            .bind(rollout)
            .bind(device)
            .bind(rev)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Post a rollout's steps to some of its devices, each exactly once:
    /// in one transaction, for each device whose rev is still NULL, take
    /// it, append its step (`None`: the device cannot take one) and record
    /// the rev (-1 for none). Another process posting the same devices at
    /// once finds them taken (PostgreSQL: it waits for the row lock, then
    /// sees the row changed) and skips them; a process that dies in
    /// between leaves them untaken for whoever advances the rollout next.
    /// When the transaction fails (a step cannot be appended), each device
    /// is posted alone and one that still fails is recorded with rev -1.
    pub async fn post_rollout_steps(
        &self,
        rollout: &str,
        posts: &[(String, Option<NewStep>)],
    ) -> Result<()> {
        match self.post_rollout_steps_tx(rollout, posts).await {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::info!("rollout {rollout}: posting device by device ({e})");
                for p in posts {
                    if let Err(e) = self
                        .post_rollout_steps_tx(rollout, std::slice::from_ref(p))
                        .await
                    {
                        tracing::warn!("rollout {rollout}: device {}: {e}", p.0);
                        self.post_rollout_steps_tx(rollout, &[(p.0.clone(), None)])
                            .await?;
                    }
                }
                Ok(())
            }
        }
    }

    async fn post_rollout_steps_tx(
        &self,
        rollout: &str,
        posts: &[(String, Option<NewStep>)],
    ) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        for (device, step) in posts {
            let taken = sqlx::query(
                "UPDATE rollout_devices SET rev = -1 \
                 WHERE rollout_id = $1 AND device_id = $2 AND rev IS NULL",
            )
            .bind(rollout)
            .bind(device)
            .execute(&mut *tx)
            .await?;
            let Some(step) = step.as_ref().filter(|_| taken.rows_affected() == 1) else {
                continue;
            };
            let s = append_step(&mut tx, step).await?;
            sqlx::query(
                "UPDATE rollout_devices SET rev = $3 WHERE rollout_id = $1 AND device_id = $2",
            )
            .bind(rollout)
            .bind(device)
            .bind(s.rev)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Whether some device of a rollout has a posted step whose status is
    /// none of `settled`. Stops at the first one: while many devices are
    /// pending this reads a row or two.
    pub async fn rollout_has_unsettled(&self, rollout: &str, settled: &[&str]) -> Result<bool> {
        let marks: Vec<String> = (0..settled.len()).map(|i| format!("${}", i + 2)).collect();
        let q = format!(
            "SELECT 1 AS one FROM rollout_devices d JOIN steps s \
             ON s.trail_id = d.device_id AND s.rev = d.rev \
             WHERE d.rollout_id = $1 AND s.status NOT IN ({}) LIMIT 1",
            marks.join(", ")
        );
        let mut query = sqlx::query(&q).bind(rollout);
        for s in settled {
            query = query.bind(*s);
        }
        Ok(query.fetch_optional(&self.pool).await?.is_some())
    }

    /// The ids of every running rollout, oldest first.
    pub async fn running_rollouts(&self) -> Result<Vec<String>> {
        let rows =
            sqlx::query("SELECT id FROM rollouts WHERE status = 'running' ORDER BY created, id")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("id").map_err(Into::into))
            .collect()
    }

    /// Every device of a rollout with the rev posted to it (None before its
    /// wave starts) and that step's status now (None if there is no such
    /// step), in one query.
    pub async fn rollout_steps(&self, rollout: &str) -> Result<HashMap<String, RolloutStep>> {
        let rows = sqlx::query(
            "SELECT d.device_id AS device_id, d.rev AS rev, s.status AS status \
             FROM rollout_devices d LEFT JOIN steps s \
             ON s.trail_id = d.device_id AND s.rev = d.rev WHERE d.rollout_id = $1",
        )
        .bind(rollout)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<String, _>("device_id")?,
                    RolloutStep {
                        rev: r.try_get("rev")?,
                        status: r.try_get("status")?,
                    },
                ))
            })
            .collect()
    }
}

/// The step a rollout posted to one device.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RolloutStep {
    pub rev: Option<i64>,
    pub status: Option<String>,
}
