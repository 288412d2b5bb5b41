//! The fleet page, claiming a device and join tokens.

use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use ph_server::AppState;
use ph_store::{FleetQuery, FleetRow};
use serde::Deserialize;

use crate::layout::{ago, badge, enc, meta_text, page, ONLINE_SECS};
use crate::session::Session;

/// Devices per fleet page.
pub const PAGE: i64 = 50;

#[derive(Deserialize, Default)]
pub struct FleetParams {
    #[serde(default)]
    meta: String,
    #[serde(default)]
    page: i64,
}

fn server_error(e: impl std::fmt::Display) -> Response {
    tracing::warn!("console: {e}");
    (StatusCode::INTERNAL_SERVER_ERROR, format!("hub error: {e}")).into_response()
}

fn row(r: &FleetRow, now: i64) -> Markup {
    let online = r.last_seen > now - ONLINE_SECS * 1_000_000_000;
    let running = r
        .device_meta
        .get("pantavisor.revision")
        .map(meta_text)
        .unwrap_or_else(|| "—".into());
    html! {
        tr {
            td { a href={"/ui/devices/" (r.id)} { (r.nick) } }
            td { (badge(if online { "online" } else { "offline" })) " " small { (ago(r.last_seen, now)) } }
            td.num { (running) }
            td {
                @if let Some((rev, status, progress)) = &r.latest {
                    "rev " (rev) " " (badge(status))
                    @if let Some(m) = progress.get("status-msg").and_then(|m| m.as_str()) {
                        " " small { (m) }
                    }
                } @else { (badge("")) }
            }
        }
    }
}

pub async fn fleet(
    State(hub): State<AppState>,
    s: Session,
    Query(p): Query<FleetParams>,
) -> Response {
    let now = ph_store::now_nanos();
    let meta = Some(p.meta.trim().to_string()).filter(|m| !m.is_empty());
    let page_no = p.page.max(0);
    let q = FleetQuery {
        owner: s.prn.clone(),
        meta: meta.clone(),
        offset: page_no * PAGE,
        limit: PAGE,
    };
    let db = &hub.store.db;
    let (counts, rows) = match tokio::try_join!(
        db.fleet_counts(&q, now - ONLINE_SECS * 1_000_000_000),
        db.fleet_page(&q)
    ) {
        Ok(x) => x,
        Err(e) => return server_error(e),
    };
    let pages = (counts.total + PAGE - 1) / PAGE;
    let link = |n: i64| {
        format!(
            "/ui/fleet?meta={}&page={n}",
            enc(meta.as_deref().unwrap_or(""))
        )
    };
    let body = html! {
        h1 { "Fleet" }
        ul.counts {
            li { b { (counts.total) } @if counts.total == 1 { " device" } @else { " devices" } }
            li { (badge("online")) " " b { (counts.online) } }
            li { (badge("offline")) " " b { (counts.total - counts.online) } }
            @for (st, n) in &counts.by_status {
                li { (badge(st)) " " b { (n) } }
            }
        }
        form.filter method="get" action="/ui/fleet" {
            input name="meta" value=(meta.as_deref().unwrap_or(""))
                placeholder="user-meta or device-meta: key=value or key";
            button type="submit" { "Filter" }
            @if meta.is_some() { a href="/ui/fleet" { "clear" } }
        }
        @if rows.is_empty() {
            p.empty { "No device" @if meta.is_some() { " matches this filter" } "." }
        } @else {
            table.fleet {
                thead { tr { th { "Device" } th { "Contact" } th { "Running rev" } th { "Last progress" } } }
                tbody { @for r in &rows { (row(r, now)) } }
            }
        }
        @if pages > 1 {
            nav.pager {
                @if page_no > 0 { a href=(link(page_no - 1)) { "« previous" } }
                span { "page " (page_no + 1) " of " (pages) }
                @if page_no + 1 < pages { a href=(link(page_no + 1)) { "next »" } }
            }
        }
    };
    page("Fleet", Some(&s), body).into_response()
}

fn claim_form(s: &Session, error: Option<&str>, id: &str) -> Markup {
    html! {
        section.narrow {
            h1 { "Claim a device" }
            p { "The device prints its id and challenge (or shows them on its own web page) until it is claimed." }
            @if let Some(e) = error { p.error { (e) } }
            form method="post" action="/ui/claim" {
                input type="hidden" name="csrf" value=(s.csrf);
                label { "Device id" input name="id" value=(id) required; }
                label { "Challenge" input name="challenge" required; }
                button type="submit" { "Claim" }
            }
        }
    }
}

pub async fn claim_page(s: Session) -> Response {
    page("Claim", Some(&s), claim_form(&s, None, "")).into_response()
}

#[derive(Deserialize)]
pub struct ClaimForm {
    #[serde(default)]
    csrf: String,
    id: String,
    challenge: String,
}

/// Claim as `PUT /devices/{id}?challenge=` does (the same nick rule).
pub async fn claim(State(hub): State<AppState>, s: Session, Form(f): Form<ClaimForm>) -> Response {
    if let Err(r) = s.check(&f.csrf) {
        return r;
    }
    let (id, ch) = (f.id.trim(), f.challenge.trim());
    let refuse = |m: &str| {
        (
            StatusCode::FORBIDDEN,
            page("Claim", Some(&s), claim_form(&s, Some(m), id)),
        )
            .into_response()
    };
    let db = &hub.store.db;
    let d = match db.device_by_id(id).await {
        Ok(d) => d,
        Err(e) => return server_error(e),
    };
    let Some(d) = d.filter(|d| d.owner.is_empty() && !d.challenge.is_empty() && d.challenge == ch)
    else {
        return refuse("No unclaimed device has this id and challenge.");
    };
    let nick = format!(
        "{}_{}",
        ph_server::util::words(3, "_"),
        ph_server::util::random_letters(4)
    );
    match db.claim_device(&d.id, ch, &s.prn, &nick).await {
        Ok(true) => Redirect::to(&format!("/ui/devices/{}", d.id)).into_response(),
        Ok(false) => refuse("The device was claimed meanwhile."),
        Err(e) => server_error(e),
    }
}

fn tokens_body(s: &Session, tokens: &[ph_store::DeviceToken], new: Option<&str>) -> Markup {
    html! {
        h1 { "Join tokens" }
        p { "A device started with a join token joins this account by itself, without a claim." }
        @if let Some(t) = new {
            div.notice {
                p { "The new token is shown only now. Put this line in the device's "
                    code { "pantahub.config" } ":" }
                pre id="autotok" { "PH_FACTORY_AUTOTOK=" (t) }
            }
        }
        form.inline method="post" action="/ui/tokens" {
            input type="hidden" name="csrf" value=(s.csrf);
            input name="nick" placeholder="name (optional)";
            input name="meta" placeholder="default user-meta: key=value, … (optional)";
            button type="submit" { "Create a join token" }
        }
        @if !tokens.is_empty() {
            table {
                thead { tr { th { "Name" } th { "Default user-meta" } th { "State" } } }
                tbody {
                    @for t in tokens {
                        tr {
                            td { (t.nick) }
                            td { code { (serde_json::Value::Object(t.default_user_meta.clone())) } }
                            td { @if t.disabled { "disabled" } @else { "active" } }
                        }
                    }
                }
            }
        }
    }
}

pub async fn tokens_page(State(hub): State<AppState>, s: Session) -> Response {
    match hub.store.db.device_tokens_of(&s.prn).await {
        Ok(t) => page("Join tokens", Some(&s), tokens_body(&s, &t, None)).into_response(),
        Err(e) => server_error(e),
    }
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    nick: String,
    #[serde(default)]
    meta: String,
}

/// `key=value, key2=value2` as a metadata map.
fn parse_meta(s: &str) -> serde_json::Map<String, serde_json::Value> {
    s.split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().into()))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

pub async fn create_token(
    State(hub): State<AppState>,
    s: Session,
    Form(f): Form<TokenForm>,
) -> Response {
    if let Err(r) = s.check(&f.csrf) {
        return r;
    }
    let store = &hub.store;
    let made = ph_server::users::add_join_token(store, &s.prn, f.nick.trim(), parse_meta(&f.meta));
    let token = match made.await {
        Ok((_, t)) => t,
        Err(e) => return server_error(e),
    };
    match store.db.device_tokens_of(&s.prn).await {
        Ok(t) => page("Join tokens", Some(&s), tokens_body(&s, &t, Some(&token))).into_response(),
        Err(e) => server_error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_meta_is_read_from_pairs() {
        let m = parse_meta("site=lab, tier = canary,junk");
        assert_eq!(m.len(), 2);
        assert_eq!(m["tier"], "canary");
    }
}
