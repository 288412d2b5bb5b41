//! The queries of the web console: one page of an account's fleet with
//! each device's latest step, the counts per status over the whole fleet,
//! and a device's logs filtered by text as well.
//!
//! Metadata filters are exact, on the stored JSON maps: `key=value` is a
//! device whose user-meta or device-meta has `key` with a scalar value
//! whose text is `value` (a string as it is, a number or boolean as JSON
//! writes it); `key` alone is a device that has the key. SQLite reads the
//! maps with `json_each`, PostgreSQL with `::jsonb ->`/`->>`; one
//! statement per answer.

use serde_json::{Map, Value};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{json_col, Db, LogEntry, Result};

/// What a fleet page shows.
#[derive(Debug, Clone, Default)]
pub struct FleetQuery {
    pub owner: String,
    /// `key=value` or `key`, matched in user-meta or device-meta.
    pub meta: Option<String>,
    pub offset: i64,
    pub limit: i64,
}

/// One device of a fleet page.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetRow {
    pub id: String,
    pub nick: String,
    pub device_meta: Map<String, Value>,
    pub last_seen: i64,
    /// The latest step: rev, progress status, progress (None: no trail).
    pub latest: Option<(i64, String, Value)>,
}

/// Counts over the devices a query matches.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetCounts {
    pub total: i64,
    /// Devices seen after the cut-off.
    pub online: i64,
    /// Per latest-step status (`""`: no trail yet), sorted by status.
    pub by_status: Vec<(String, i64)>,
}

/// A device's logs, newest last.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub own: String,
    pub dev: String,
    pub lvl: Option<String>,
    pub src: Option<String>,
    pub plat: Option<String>,
    /// A substring of the message.
    pub text: Option<String>,
    /// Only entries with an id above this one (a live tail).
    pub after_id: i64,
    pub limit: i64,
}

/// Escape `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
fn like_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

/// A metadata filter (`key=value` or `key`): the key, and the value if any.
pub fn meta_filter(filter: &str) -> (String, Option<String>) {
    match filter.split_once('=') {
        Some((k, v)) => (k.trim().to_string(), Some(v.trim().to_string())),
        None => (filter.trim().to_string(), None),
    }
}

/// The condition of a metadata filter on one map column, the key bound
/// as `$2` and the value as `$3`.
fn meta_condition(postgres: bool, col: &str, with_value: bool) -> String {
    match (postgres, with_value) {
        (false, false) => format!("EXISTS (SELECT 1 FROM json_each(d.{col}) j WHERE j.key = $2)"),
        (false, true) => format!(
            "EXISTS (SELECT 1 FROM json_each(d.{col}) j WHERE j.key = $2 \
             AND j.type IN ('text', 'integer', 'real', 'true', 'false') \
             AND (CASE j.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' \
             ELSE CAST(j.value AS TEXT) END) = $3)"
        ),
        (true, false) => format!("(d.{col}::jsonb -> $2::text) IS NOT NULL"),
        (true, true) => format!(
            "(jsonb_typeof(d.{col}::jsonb -> $2::text) IN ('string', 'number', 'boolean') \
             AND (d.{col}::jsonb ->> $2::text) = $3::text)"
        ),
    }
}

/// The clause a metadata filter adds to a fleet query.
fn meta_clause(postgres: bool, with_value: bool) -> String {
    format!(
        " AND ({} OR {})",
        meta_condition(postgres, "user_meta", with_value),
        meta_condition(postgres, "device_meta", with_value)
    )
}

const LATEST: &str = "LEFT JOIN steps s ON s.trail_id = d.id \
     AND s.rev = (SELECT MAX(rev) FROM steps m WHERE m.trail_id = d.id)";

fn fleet_row(r: &AnyRow) -> Result<FleetRow> {
    let device_meta = match json_col(&r.try_get::<String, _>("device_meta")?, "device_meta")? {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let rev: Option<i64> = r.try_get("rev")?;
    let latest = match rev {
        Some(rev) => Some((
            rev,
            r.try_get::<Option<String>, _>("status")?
                .unwrap_or_default(),
            json_col(
                &r.try_get::<Option<String>, _>("progress")?
                    .unwrap_or_else(|| "{}".into()),
                "progress",
            )?,
        )),
        None => None,
    };
    Ok(FleetRow {
        id: r.try_get("id")?,
        nick: r.try_get("nick")?,
        device_meta,
        last_seen: r.try_get("last_seen")?,
        latest,
    })
}

impl Db {
    /// One page of a fleet, by nick.
    pub async fn fleet_page(&self, q: &FleetQuery) -> Result<Vec<FleetRow>> {
        let filter = q.meta.as_deref().map(meta_filter);
        let meta = filter.as_ref().map_or(String::new(), |(_, v)| {
            meta_clause(self.postgres, v.is_some())
        });
        let sql = format!(
            "SELECT d.id AS id, d.nick AS nick, d.device_meta AS device_meta, \
             d.last_seen AS last_seen, s.rev AS rev, s.status AS status, s.progress AS progress \
             FROM devices d {LATEST} WHERE d.owner = $1{meta} ORDER BY d.nick, d.id LIMIT {} OFFSET {}",
            q.limit.clamp(1, 500),
            q.offset.max(0)
        );
        let mut query = sqlx::query(&sql).bind(&q.owner);
        if let Some((k, v)) = filter {
            query = query.bind(k);
            if let Some(v) = v {
                query = query.bind(v);
            }
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(fleet_row).collect()
    }

    /// The counts over every device a fleet query matches (its page aside);
    /// `online_after`: the last-contact cut-off in nanoseconds.
    pub async fn fleet_counts(&self, q: &FleetQuery, online_after: i64) -> Result<FleetCounts> {
        let filter = q.meta.as_deref().map(meta_filter);
        let meta = filter.as_ref().map_or(String::new(), |(_, v)| {
            meta_clause(self.postgres, v.is_some())
        });
        let sql = format!(
            "SELECT COALESCE(s.status, '') AS status, COUNT(*) AS n, \
             SUM(CASE WHEN d.last_seen > {online_after} THEN 1 ELSE 0 END) AS online \
             FROM devices d {LATEST} WHERE d.owner = $1{meta} GROUP BY COALESCE(s.status, '') \
             ORDER BY status"
        );
        let mut query = sqlx::query(&sql).bind(&q.owner);
        if let Some((k, v)) = filter {
            query = query.bind(k);
            if let Some(v) = v {
                query = query.bind(v);
            }
        }
        let mut c = FleetCounts::default();
        for r in query.fetch_all(&self.pool).await? {
            let n: i64 = r.try_get("n")?;
            let online: Option<i64> = r.try_get("online")?;
            c.total += n;
            c.online += online.unwrap_or(0);
            c.by_status.push((r.try_get("status")?, n));
        }
        Ok(c)
    }

    /// A device's log entries matching a filter: the latest `limit` of
    /// them, oldest first.
    pub async fn device_logs(&self, f: &LogFilter) -> Result<Vec<LogEntry>> {
        let mut sql = String::from(
            "SELECT id, dev, own, created, tsec, tnano, rev, plat, src, lvl, msg FROM logs \
             WHERE own = $1 AND dev = $2",
        );
        let mut binds = vec![f.own.clone(), f.dev.clone()];
        for (col, v) in [("lvl", &f.lvl), ("src", &f.src), ("plat", &f.plat)] {
            if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                binds.push(v.clone());
                sql += &format!(" AND {col} = ${}", binds.len());
            }
        }
        if let Some(t) = f.text.as_ref().filter(|t| !t.is_empty()) {
            binds.push(format!("%{}%", like_escape(t)));
            sql += &format!(" AND msg LIKE ${} ESCAPE '\\'", binds.len());
        }
        sql += &format!(
            " AND id > {} ORDER BY id DESC LIMIT {}",
            f.after_id.max(0),
            f.limit.clamp(1, 1000)
        );
        let mut q = sqlx::query(&sql);
        for b in &binds {
            q = q.bind(b);
        }
        let mut out = q
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(LogEntry {
                    id: r.try_get("id")?,
                    dev: r.try_get("dev")?,
                    own: r.try_get("own")?,
                    created: r.try_get("created")?,
                    tsec: r.try_get("tsec")?,
                    tnano: r.try_get("tnano")?,
                    rev: r.try_get("rev")?,
                    plat: r.try_get("plat")?,
                    src: r.try_get("src")?,
                    lvl: r.try_get("lvl")?,
                    msg: r.try_get("msg")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }

    /// When a device last reported its device-meta (0: never).
    pub async fn last_seen(&self, id: &str) -> Result<i64> {
        let r = sqlx::query("SELECT last_seen FROM devices WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match r {
            Some(r) => r.try_get("last_seen")?,
            None => 0,
        })
    }

    /// The distinct sources and platforms (containers) of a device's logs,
    /// for the filter's choices.
    pub async fn device_log_sources(
        &self,
        own: &str,
        dev: &str,
    ) -> Result<(Vec<String>, Vec<String>)> {
        Ok((
            self.distinct_log(own, dev, "src").await?,
            self.distinct_log(own, dev, "plat").await?,
        ))
    }

    async fn distinct_log(&self, own: &str, dev: &str, col: &str) -> Result<Vec<String>> {
        let sql = format!(
            "SELECT DISTINCT {col} AS v FROM logs WHERE own = $1 AND dev = $2 ORDER BY v LIMIT 100"
        );
        let rows = sqlx::query(&sql)
            .bind(own)
            .bind(dev)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("v").map_err(Into::into))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_filters_split_at_the_first_equals_sign() {
        assert_eq!(meta_filter("site=lab"), ("site".into(), Some("lab".into())));
        assert_eq!(meta_filter(" arch "), ("arch".into(), None));
        assert_eq!(meta_filter("k = a=b "), ("k".into(), Some("a=b".into())));
        assert_eq!(meta_filter("k="), ("k".into(), Some(String::new())));
    }
}
