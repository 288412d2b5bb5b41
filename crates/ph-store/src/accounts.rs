//! User accounts.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{conflict, now_nanos, Db, Result};

/// A stored account (`password_hash` is a PHC string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub prn: String,
    pub nick: String,
    pub email: String,
    pub password_hash: String,
    /// Pending e-mail verification; empty once verified.
    pub challenge: String,
    /// USER, ADMIN…
    pub kind: String,
    pub created: i64,
    pub modified: i64,
}

/// What creating an account needs.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub id: String,
    pub prn: String,
    pub nick: String,
    pub email: String,
    pub password_hash: String,
    pub challenge: String,
    pub kind: String,
}

fn row(r: &AnyRow) -> Result<Account> {
    Ok(Account {
        id: r.try_get("id")?,
        prn: r.try_get("prn")?,
        nick: r.try_get("nick")?,
        email: r.try_get("email")?,
        password_hash: r.try_get("password_hash")?,
        challenge: r.try_get("challenge")?,
        kind: r.try_get("type")?,
        created: r.try_get("created")?,
        modified: r.try_get("modified")?,
    })
}

const COLS: &str = "id, prn, nick, email, password_hash, challenge, type, created, modified";

impl Db {
    /// Create an account; a taken nick or email is a conflict.
    pub async fn create_account(&self, a: &NewAccount) -> Result<Account> {
        let now = now_nanos();
        sqlx::query(
            "INSERT INTO accounts (id, prn, nick, email, password_hash, challenge, type, created, modified) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(&a.id)
        .bind(&a.prn)
        .bind(&a.nick)
        .bind(&a.email)
        .bind(&a.password_hash)
        .bind(&a.challenge)
        .bind(&a.kind)
        .bind(now)
        .execute(&self.writer)
        .await
        .map_err(|e| conflict(e, "nick or email taken"))?;
        Ok(Account {
            id: a.id.clone(),
            prn: a.prn.clone(),
            nick: a.nick.clone(),
            email: a.email.clone(),
            password_hash: a.password_hash.clone(),
            challenge: a.challenge.clone(),
            kind: a.kind.clone(),
            created: now,
            modified: now,
        })
    }

    async fn account_by(&self, col: &str, v: &str) -> Result<Option<Account>> {
        let q = format!("SELECT {COLS} FROM accounts WHERE {col} = $1");
        let r = sqlx::query(&q).bind(v).fetch_optional(&self.pool).await?;
        r.as_ref().map(row).transpose()
    }

    pub async fn account_by_id(&self, id: &str) -> Result<Option<Account>> {
        self.account_by("id", id).await
    }
    pub async fn account_by_prn(&self, prn: &str) -> Result<Option<Account>> {
        self.account_by("prn", prn).await
    }
    pub async fn account_by_nick(&self, nick: &str) -> Result<Option<Account>> {
        self.account_by("nick", nick).await
    }
    pub async fn account_by_email(&self, email: &str) -> Result<Option<Account>> {
        self.account_by("email", email).await
    }

    /// Every account, oldest first.
    pub async fn accounts(&self) -> Result<Vec<Account>> {
        let q = format!("SELECT {COLS} FROM accounts ORDER BY created, id");
        let rows = sqlx::query(&q).fetch_all(&self.pool).await?;
        rows.iter().map(row).collect()
    }

    /// Clear the verification challenge if it matches; false otherwise.
    pub async fn verify_account(&self, id: &str, challenge: &str) -> Result<bool> {
        if challenge.is_empty() {
            return Ok(false);
        }
        let r = sqlx::query(
            "UPDATE accounts SET challenge = '', modified = $3 WHERE id = $1 AND challenge = $2",
        )
        .bind(id)
        .bind(challenge)
        .bind(now_nanos())
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected() == 1)
    }
}
