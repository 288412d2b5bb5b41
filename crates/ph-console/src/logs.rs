//! A device's logs: filters (level, source, container, text) and a live
//! tail: the page's script asks `…/logs/rows?after=<last id>` with the
//! same filters and appends what comes.

use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup};
use ph_server::AppState;
use ph_store::{LogEntry, LogFilter};
use serde::Deserialize;

use crate::device::{owned, server_error};
use crate::layout::{enc, page as frame, time};
use crate::session::Session;

/// Lines on the page at first.
const FIRST: i64 = 200;
const LEVELS: [&str; 5] = ["FATAL", "ERROR", "WARN", "INFO", "DEBUG"];

#[derive(Deserialize, Default)]
pub struct LogParams {
    #[serde(default)]
    lvl: String,
    #[serde(default)]
    src: String,
    #[serde(default)]
    plat: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    after: i64,
}

impl LogParams {
    fn filter(&self, own: &str, dev: &str, limit: i64) -> LogFilter {
        let some = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        LogFilter {
            own: own.into(),
            dev: dev.into(),
            lvl: some(&self.lvl),
            src: some(&self.src),
            plat: some(&self.plat),
            text: some(&self.text),
            after_id: self.after,
            limit,
        }
    }
    fn query(&self) -> String {
        format!(
            "lvl={}&src={}&plat={}&text={}",
            enc(&self.lvl),
            enc(&self.src),
            enc(&self.plat),
            enc(&self.text)
        )
    }
}

fn rows_html(entries: &[LogEntry]) -> Markup {
    html! {
        @for e in entries {
            tr data-id=(e.id) class={"lvl-" (e.lvl.to_lowercase())} {
                td.when { (time(e.tsec * 1_000_000_000 + e.tnano)) }
                td { (e.lvl) }
                td { (e.plat) }
                td { (e.src) }
                td.msg { (e.msg) }
            }
        }
    }
}

fn choice(name: &str, label: &str, all: &[String], cur: &str) -> Markup {
    html! {
        label.inline { (label) " "
            select name=(name) {
                option value="" { "any" }
                @for v in all { option value=(v) selected[v == cur] { (v) } }
            }
        }
    }
}

pub async fn page(
    State(hub): State<AppState>,
    s: Session,
    Path(id): Path<String>,
    Query(p): Query<LogParams>,
) -> Response {
    let d = match owned(&hub, &s, &id).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let db = &hub.store.db;
    let filter = p.filter(&s.prn, &d.prn, FIRST);
    let got = tokio::try_join!(
        db.device_logs(&filter),
        db.device_log_sources(&s.prn, &d.prn)
    );
    let (entries, (srcs, plats)) = match got {
        Ok(x) => x,
        Err(e) => return server_error(e),
    };
    let levels: Vec<String> = LEVELS.iter().map(|l| l.to_string()).collect();
    let body = html! {
        h1 { a href={"/ui/devices/" (d.id)} { (d.nick) } " · logs" }
        form.filter id="log-filter" method="get" action={"/ui/devices/" (d.id) "/logs"} {
            (choice("lvl", "level", &levels, &p.lvl))
            (choice("src", "source", &srcs, &p.src))
            (choice("plat", "container", &plats, &p.plat))
            input name="text" value=(p.text) placeholder="text";
            button type="submit" { "Filter" }
            label.inline { input id="live" type="checkbox" checked; " live" }
        }
        table.logs {
            thead { tr { th { "time" } th { "level" } th { "container" } th { "source" } th { "message" } } }
            tbody id="log-rows" data-tail={"/ui/devices/" (d.id) "/logs/rows?" (p.query())} {
                (rows_html(&entries))
            }
        }
        @if entries.is_empty() { p.empty id="no-logs" { "No log line matches (yet)." } }
    };
    frame("Logs", Some(&s), body).into_response()
}

/// Rows after `after`, for the live tail.
pub async fn rows(
    State(hub): State<AppState>,
    s: Session,
    Path(id): Path<String>,
    Query(p): Query<LogParams>,
) -> Response {
    let d = match owned(&hub, &s, &id).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    match hub
        .store
        .db
        .device_logs(&p.filter(&s.prn, &d.prn, 500))
        .await
    {
        Ok(e) => Html(rows_html(&e).into_string()).into_response(),
        Err(e) => server_error(e),
    }
}
