//! Device log entries.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{Db, Result};

/// A stored log line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogEntry {
    pub id: i64,
    /// Device prn.
    pub dev: String,
    /// Owner prn.
    pub own: String,
    pub created: i64,
    pub tsec: i64,
    pub tnano: i64,
    pub rev: String,
    pub plat: String,
    pub src: String,
    pub lvl: String,
    pub msg: String,
}

/// A sort key: column and descending flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSort {
    pub column: &'static str,
    pub desc: bool,
}

impl LogSort {
    /// Parse `tsec`, `-time-created`…; None for an unknown column.
    pub fn parse(s: &str) -> Option<Self> {
        let (desc, name) = match s.strip_prefix('-') {
            Some(n) => (true, n),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let column = match name {
            "dev" => "dev",
            "rev" => "rev",
            "plat" => "plat",
            "lvl" => "lvl",
            "tsec" => "tsec",
            "tnano" => "tnano",
            "src" => "src",
            "time-created" => "created",
            _ => return None,
        };
        Some(LogSort { column, desc })
    }
}

/// A query over one owner's logs.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub own: String,
    /// Device prns (empty: all of the owner's).
    pub devs: Vec<String>,
    pub srcs: Vec<String>,
    pub lvls: Vec<String>,
    pub plats: Vec<String>,
    pub revs: Vec<String>,
    /// `created` bounds (nanoseconds), exclusive.
    pub after: Option<i64>,
    pub before: Option<i64>,
    pub sort: Vec<LogSort>,
    pub start: i64,
    pub page: i64,
}

fn row(r: &AnyRow) -> Result<LogEntry> {
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
}

impl Db {
    /// Insert a batch of entries in one transaction.
    pub async fn insert_logs(&self, entries: &[LogEntry]) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        for e in entries {
            sqlx::query(
                "INSERT INTO logs (dev, own, created, tsec, tnano, rev, plat, src, lvl, msg) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&e.dev)
            .bind(&e.own)
            .bind(e.created)
            .bind(e.tsec)
            .bind(e.tnano)
            .bind(&e.rev)
            .bind(&e.plat)
            .bind(&e.src)
            .bind(&e.lvl)
            .bind(&e.msg)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The total count of matches and one page of them.
    pub async fn query_logs(&self, q: &LogQuery) -> Result<(i64, Vec<LogEntry>)> {
        let mut sql = String::from(" FROM logs WHERE own = $1");
        let mut binds: Vec<String> = vec![q.own.clone()];
        for (col, vals) in [
            ("dev", &q.devs),
            ("src", &q.srcs),
            ("lvl", &q.lvls),
            ("plat", &q.plats),
            ("rev", &q.revs),
        ] {
            if vals.is_empty() {
                continue;
            }
            let ph: Vec<String> = (0..vals.len())
                .map(|i| format!("${}", binds.len() + 1 + i))
                .collect();
            sql += &format!(" AND {col} IN ({})", ph.join(", "));
            binds.extend(vals.iter().cloned());
        }
        if let Some(a) = q.after {
            sql += &format!(" AND created > {a}");
        }
        if let Some(b) = q.before {
            sql += &format!(" AND created < {b}");
        }
        let count_sql = format!("SELECT COUNT(*) AS n{sql}");
        let mut cq = sqlx::query(&count_sql);
        for b in &binds {
            cq = cq.bind(b);
        }
        let count: i64 = cq.fetch_one(&self.pool).await?.try_get("n")?;
        let mut order: Vec<String> = q
            .sort
            .iter()
            .map(|s| format!("{} {}", s.column, if s.desc { "DESC" } else { "ASC" }))
            .collect();
        if order.is_empty() {
            order.push("created DESC".into());
        }
        order.push("id ASC".into());
        let page_sql = format!(
            "SELECT id, dev, own, created, tsec, tnano, rev, plat, src, lvl, msg{sql} ORDER BY {} LIMIT {} OFFSET {}",
            order.join(", "),
            q.page.max(0),
            q.start.max(0)
        );
        let mut pq = sqlx::query(&page_sql);
        for b in &binds {
            pq = pq.bind(b);
        }
        let rows = pq.fetch_all(&self.pool).await?;
        Ok((count, rows.iter().map(row).collect::<Result<_>>()?))
    }
}
