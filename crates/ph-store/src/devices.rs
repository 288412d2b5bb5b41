//! Devices, join tokens and the per-account profile meta.

use serde_json::{Map, Value};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{conflict, json_col, now_nanos, Db, Result};

/// A stored device.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub id: String,
    pub prn: String,
    pub nick: String,
    /// Owner account prn; empty while unclaimed.
    pub owner: String,
    pub secret: String,
    /// Claim challenge; empty once claimed.
    pub challenge: String,
    pub public: bool,
    pub user_meta: Map<String, Value>,
    pub device_meta: Map<String, Value>,
    pub created: i64,
    pub modified: i64,
}

/// A device join token (`Pantahub-Devices-Auto-Token-V1`); only its sha is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceToken {
    pub id: String,
    pub prn: String,
    pub owner: String,
    pub nick: String,
    pub token_sha: String,
    pub default_user_meta: Map<String, Value>,
    pub disabled: bool,
    pub created: i64,
    pub modified: i64,
}

fn map_col(s: &str, col: &str) -> Result<Map<String, Value>> {
    match json_col(s, col)? {
        Value::Object(m) => Ok(m),
        _ => Ok(Map::new()),
    }
}

fn text(m: &Map<String, Value>) -> String {
    serde_json::to_string(m).unwrap_or_else(|_| "{}".into())
}

const COLS: &str =
    "id, prn, nick, owner, secret, challenge, public, user_meta, device_meta, created, modified";

fn row(r: &AnyRow) -> Result<Device> {
    Ok(Device {
        id: r.try_get("id")?,
        prn: r.try_get("prn")?,
        nick: r.try_get("nick")?,
        owner: r.try_get("owner")?,
        secret: r.try_get("secret")?,
        challenge: r.try_get("challenge")?,
        public: r.try_get::<i64, _>("public")? != 0,
        user_meta: map_col(&r.try_get::<String, _>("user_meta")?, "user_meta")?,
        device_meta: map_col(&r.try_get::<String, _>("device_meta")?, "device_meta")?,
        created: r.try_get("created")?,
        modified: r.try_get("modified")?,
    })
}

const TCOLS: &str =
    "id, prn, owner, nick, token_sha, default_user_meta, disabled, created, modified";

fn token_row(r: &AnyRow) -> Result<DeviceToken> {
    Ok(DeviceToken {
        id: r.try_get("id")?,
        prn: r.try_get("prn")?,
        owner: r.try_get("owner")?,
        nick: r.try_get("nick")?,
        token_sha: r.try_get("token_sha")?,
        default_user_meta: map_col(
            &r.try_get::<String, _>("default_user_meta")?,
            "default_user_meta",
        )?,
        disabled: r.try_get::<i64, _>("disabled")? != 0,
        created: r.try_get("created")?,
        modified: r.try_get("modified")?,
    })
}

impl Db {
    /// Insert a new device; a nick taken for the same owner is a conflict.
    pub async fn create_device(&self, d: &Device) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO devices ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(&d.id)
        .bind(&d.prn)
        .bind(&d.nick)
        .bind(&d.owner)
        .bind(&d.secret)
        .bind(&d.challenge)
        .bind(d.public as i64)
        .bind(text(&d.user_meta))
        .bind(text(&d.device_meta))
        .bind(d.created)
        .bind(d.modified)
        .execute(&self.writer)
        .await
        .map_err(|e| conflict(e, "device nick taken"))?;
        Ok(())
    }

    /// Write back every mutable field of a device (nick, owner, secret,
    /// challenge, public, both metas); `modified` is set to now.
    pub async fn update_device(&self, d: &Device) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE devices SET nick = $2, owner = $3, secret = $4, challenge = $5, public = $6, \
             user_meta = $7, device_meta = $8, modified = $9 WHERE id = $1",
        )
        .bind(&d.id)
        .bind(&d.nick)
        .bind(&d.owner)
        .bind(&d.secret)
        .bind(&d.challenge)
        .bind(d.public as i64)
        .bind(text(&d.user_meta))
        .bind(text(&d.device_meta))
        .bind(now_nanos())
        .execute(&self.writer)
        .await
        .map_err(|e| conflict(e, "device nick taken"))?;
        Ok(r.rows_affected() == 1)
    }

    /// Claim: set the owner and nick only if the challenge still matches
    /// (so two claims cannot both win).
    pub async fn claim_device(
        &self,
        id: &str,
        challenge: &str,
        owner: &str,
        nick: &str,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE devices SET owner = $3, nick = $4, challenge = '', modified = $5 \
             WHERE id = $1 AND owner = '' AND challenge = $2 AND challenge <> ''",
        )
        .bind(id)
        .bind(challenge)
        .bind(owner)
        .bind(nick)
        .bind(now_nanos())
        .execute(&self.writer)
        .await
        .map_err(|e| conflict(e, "device nick taken"))?;
        Ok(r.rows_affected() == 1)
    }

    /// Replace only the device-meta column (only the device itself does:
    /// this is also its last contact, `last_seen`).
    pub async fn set_device_meta(&self, id: &str, meta: &Map<String, Value>) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE devices SET device_meta = $2, modified = $3, last_seen = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(text(meta))
        .bind(now_nanos())
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Replace only the user-meta column.
    pub async fn set_user_meta(&self, id: &str, meta: &Map<String, Value>) -> Result<bool> {
        let r = sqlx::query("UPDATE devices SET user_meta = $2, modified = $3 WHERE id = $1")
            .bind(id)
            .bind(text(meta))
            .bind(now_nanos())
            .execute(&self.writer)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn device_by_id(&self, id: &str) -> Result<Option<Device>> {
        let r = sqlx::query(&format!("SELECT {COLS} FROM devices WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        r.as_ref().map(row).transpose()
    }

    pub async fn device_by_owner_nick(&self, owner: &str, nick: &str) -> Result<Option<Device>> {
        let r = sqlx::query(&format!(
            "SELECT {COLS} FROM devices WHERE owner = $1 AND nick = $2"
        ))
        .bind(owner)
        .bind(nick)
        .fetch_optional(&self.pool)
        .await?;
        r.as_ref().map(row).transpose()
    }

    /// Devices of an owner, oldest first; only public ones when asked.
    pub async fn devices_of(&self, owner: &str, only_public: bool) -> Result<Vec<Device>> {
        let q = format!(
            "SELECT {COLS} FROM devices WHERE owner = $1 {} ORDER BY created, id",
            if only_public { "AND public = 1" } else { "" }
        );
        let rows = sqlx::query(&q).bind(owner).fetch_all(&self.pool).await?;
        rows.iter().map(row).collect()
    }

    /// Remove a device with its trail and steps (object records stay with
    /// their owner).
    pub async fn delete_device(&self, id: &str) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        for q in [
            "DELETE FROM step_objects WHERE trail_id = $1",
            "DELETE FROM steps WHERE trail_id = $1",
            "DELETE FROM trails WHERE id = $1",
        ] {
            sqlx::query(q).bind(id).execute(&mut *tx).await?;
        }
        let r = sqlx::query("DELETE FROM devices WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn create_device_token(&self, t: &DeviceToken) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO device_tokens ({TCOLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(&t.id)
        .bind(&t.prn)
        .bind(&t.owner)
        .bind(&t.nick)
        .bind(&t.token_sha)
        .bind(text(&t.default_user_meta))
        .bind(t.disabled as i64)
        .bind(t.created)
        .bind(t.modified)
        .execute(&self.writer)
        .await
        .map_err(|e| conflict(e, "token exists"))?;
        Ok(())
    }

    pub async fn device_token_by_sha(&self, sha: &str) -> Result<Option<DeviceToken>> {
        let r = sqlx::query(&format!(
            "SELECT {TCOLS} FROM device_tokens WHERE token_sha = $1"
        ))
        .bind(sha)
        .fetch_optional(&self.pool)
        .await?;
        r.as_ref().map(token_row).transpose()
    }

    pub async fn device_tokens_of(&self, owner: &str) -> Result<Vec<DeviceToken>> {
        let rows = sqlx::query(&format!(
            "SELECT {TCOLS} FROM device_tokens WHERE owner = $1 ORDER BY created, id"
        ))
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(token_row).collect()
    }

    /// Disable a token of this owner; false if there is none.
    pub async fn disable_device_token(&self, owner: &str, id: &str) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE device_tokens SET disabled = 1, modified = $3 WHERE owner = $1 AND id = $2",
        )
        .bind(owner)
        .bind(id)
        .bind(now_nanos())
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// The account's global user-meta (`{}` when never set).
    pub async fn profile_meta(&self, owner: &str) -> Result<Map<String, Value>> {
        let r = sqlx::query("SELECT meta FROM profiles WHERE owner = $1")
            .bind(owner)
            .fetch_optional(&self.pool)
            .await?;
        match r {
            Some(r) => map_col(&r.try_get::<String, _>("meta")?, "meta"),
            None => Ok(Map::new()),
        }
    }

    pub async fn set_profile_meta(&self, owner: &str, meta: &Map<String, Value>) -> Result<()> {
        sqlx::query(
            "INSERT INTO profiles (owner, meta, modified) VALUES ($1, $2, $3) \
             ON CONFLICT (owner) DO UPDATE SET meta = excluded.meta, modified = excluded.modified",
        )
        .bind(owner)
        .bind(text(meta))
        .bind(now_nanos())
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}
