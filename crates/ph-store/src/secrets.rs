//! Secrets shared by every hub process on one database (token keys).

use sqlx::Row;

use crate::{Db, Result};

impl Db {
    /// The secret called `name`, or — when there is none yet — `make()`
    /// stored under that name. Of several processes racing on a fresh
    /// database, the first write wins and every process gets that value.
    pub async fn secret_or_insert(
        &self,
        name: &str,
        make: impl FnOnce() -> String,
    ) -> Result<String> {
        if let Some(v) = self.secret(name).await? {
            return Ok(v);
        }
        sqlx::query("INSERT INTO hub_secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(name)
            .bind(make())
            .execute(&self.writer)
            .await?;
        self.secret(name)
            .await?
            .ok_or_else(|| crate::StoreError::Corrupt(format!("secret {name} vanished")))
    }

    async fn secret(&self, name: &str) -> Result<Option<String>> {
        let r = sqlx::query("SELECT value FROM hub_secrets WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(r.map(|r| r.try_get("value")).transpose()?)
    }
}
