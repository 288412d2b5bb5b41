//! A device: its steps as a timeline, its head and device-meta (all
//! followed live by the page's script), editable user-meta, a revision's state as a tree,
//! the diff of two revisions.

use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{html, Markup};
use ph_server::AppState;
use ph_store::{Device, Step, StepFilter};
use serde::Deserialize;
use serde_json::Value;

use crate::layout::{ago, badge, meta_text, size, time, ONLINE_SECS};
use crate::session::Session;
use crate::tree::{diff as state_diff, Change, Leaf, Node};

pub(crate) fn server_error(e: impl std::fmt::Display) -> Response {
    tracing::warn!("console: {e}");
    (StatusCode::INTERNAL_SERVER_ERROR, format!("hub error: {e}")).into_response()
}

fn not_found(s: &Session) -> Response {
    let body = html! {
        h1 { "No such device" }
        p { "None of your devices has this id. " a href="/ui/fleet" { "Back to the fleet" } }
    };
    (
        StatusCode::NOT_FOUND,
        crate::layout::page("Not found", Some(s), body),
    )
        .into_response()
}

/// The device if it is the session user's; 404 otherwise (whether it
/// exists or not).
pub(crate) async fn owned(hub: &AppState, s: &Session, id: &str) -> Result<Device, Response> {
    match hub.store.db.device_by_id(id).await {
        Ok(Some(d)) if !d.owner.is_empty() && d.owner == s.prn => Ok(d),
        Ok(_) => Err(not_found(s)),
        Err(e) => Err(server_error(e)),
    }
}

async fn all_steps(hub: &AppState, id: &str) -> Result<Vec<Step>, Response> {
    hub.store
        .db
        .steps(id, &StepFilter::default())
        .await
        .map_err(server_error)
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn timeline(id: &str, steps: &[Step]) -> Markup {
    html! {
        @if steps.is_empty() { p.empty { "No revision yet: the device has not synced." } }
        ol.timeline {
            @for st in steps.iter().rev() {
                @let p = &st.progress;
                li class={"step st-" (st.status.to_lowercase())} data-rev=(st.rev) {
                    div.head {
                        b { "rev " (st.rev) } " " (badge(&st.status))
                        @if let Some(n) = p.get("progress").and_then(Value::as_i64) {
                            " " progress max="100" value=(n) {} " " (n) "%"
                        }
                        " " span.msg { (str_of(p, "status-msg")) }
                        span.when { (time(st.progress_time.max(st.step_time))) }
                    }
                    div.sub {
                        @if !st.commit_msg.is_empty() { span { "“" (st.commit_msg) "”" } " " }
                        a href={"/ui/devices/" (id) "/revs/" (st.rev)} { "state" }
                    }
                    @if matches!(st.status.as_str(), "ERROR" | "WONTGO") && !str_of(p, "logs").is_empty() {
                        details.logs open {
                            summary { "update log" }
                            pre { (str_of(p, "logs")) }
                        }
                    }
                }
            }
        }
    }
}

/// The timeline alone, for the page's script.
pub async fn steps(State(hub): State<AppState>, s: Session, Path(id): Path<String>) -> Response {
    if let Err(r) = owned(&hub, &s, &id).await {
        return r;
    }
    match all_steps(&hub, &id).await {
        Ok(st) => Html(timeline(&id, &st).into_string()).into_response(),
        Err(r) => r,
    }
}

fn meta_table(m: &serde_json::Map<String, Value>) -> Markup {
    html! {
        @if m.is_empty() { p.empty { "none" } } @else {
            table.meta { tbody { @for (k, v) in m { tr { th { (k) } td { (meta_text(v)) } } } } }
        }
    }
}

fn user_meta(s: &Session, d: &Device) -> Markup {
    let action = format!("/ui/devices/{}/user-meta", d.id);
    html! {
        table.meta id="user-meta" {
            tbody {
                @for (k, v) in &d.user_meta {
                    tr {
                        th { (k) }
                        td { (meta_text(v)) }
                        td {
                            form.inline method="post" action=(action) {
                                input type="hidden" name="csrf" value=(s.csrf);
                                input type="hidden" name="key" value=(k);
                                button.small name="delete" value="1" type="submit" { "delete" }
                            }
                        }
                    }
                }
            }
        }
        form.inline id="set-user-meta" method="post" action=(action) {
            input type="hidden" name="csrf" value=(s.csrf);
            input name="key" placeholder="key" required;
            input name="value" placeholder="value";
            button type="submit" { "Set" }
        }
    }
}

/// The device's name, contact and running revision (polled by the page).
fn head(d: &Device, online: (bool, i64), now: i64) -> Markup {
    let running = d.device_meta.get("pantavisor.revision").map(meta_text);
    html! {
        h1 { (d.nick) " " (badge(if online.0 { "online" } else { "offline" })) }
        p.ids { "id " code { (d.id) } " · last contact " (ago(online.1, now))
            " · running rev " b { (running.unwrap_or_else(|| "—".into())) }
            " · " a href={"/ui/devices/" (d.id) "/logs"} { "logs" } }
    }
}

/// The device-meta table alone, for the page's script.
pub async fn device_meta_part(
    State(hub): State<AppState>,
    s: Session,
    Path(id): Path<String>,
) -> Response {
    match owned(&hub, &s, &id).await {
        Ok(d) => Html(meta_table(&d.device_meta).into_string()).into_response(),
        Err(r) => r,
    }
}

/// The head alone, for the page's script.
pub async fn head_part(
    State(hub): State<AppState>,
    s: Session,
    Path(id): Path<String>,
) -> Response {
    let d = match owned(&hub, &s, &id).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let now = ph_store::now_nanos();
    match hub.store.db.last_seen(&id).await {
        Ok(seen) => {
            let online = (seen > now - ONLINE_SECS * 1_000_000_000, seen);
            Html(head(&d, online, now).into_string()).into_response()
        }
        Err(e) => server_error(e),
    }
}

pub async fn page_of(hub: &AppState, s: &Session, id: &str) -> Result<Markup, Response> {
    let d = owned(hub, s, id).await?;
    let steps = all_steps(hub, id).await?;
    let now = ph_store::now_nanos();
    let seen = hub.store.db.last_seen(id).await.map_err(server_error)?;
    let online = (seen > now - ONLINE_SECS * 1_000_000_000, seen);
    let revs: Vec<i64> = steps.iter().map(|s| s.rev).collect();
    let (a, b) = match revs.as_slice() {
        [] => (0, 0),
        [.., x, y] => (*x, *y),
        [x] => (*x, *x),
    };
    Ok(html! {
        div id="device-head" data-poll={"/ui/devices/" (d.id) "/head"} data-every="2000" {
            (head(&d, online, now))
        }
        div.cols {
            section {
                h2 { "Revisions" }
                @if revs.len() > 1 {
                    form.inline method="get" action={"/ui/devices/" (d.id) "/diff"} {
                        "diff "
                        select name="a" { @for r in &revs { option value=(r) selected[*r == a] { (r) } } }
                        " → "
                        select name="b" { @for r in &revs { option value=(r) selected[*r == b] { (r) } } }
                        button type="submit" { "Compare" }
                    }
                }
                div id="steps" data-poll={"/ui/devices/" (d.id) "/steps"} data-every="1000" {
                    (timeline(&d.id, &steps))
                }
            }
            section {
                h2 { "User metadata" }
                (user_meta(s, &d))
                h2 { "Device metadata" }
                div id="device-meta" data-poll={"/ui/devices/" (d.id) "/device-meta"} data-every="2000" {
                    (meta_table(&d.device_meta))
                }
            }
        }
    })
}

pub async fn page(State(hub): State<AppState>, s: Session, Path(id): Path<String>) -> Response {
    match page_of(&hub, &s, &id).await {
        Ok(body) => crate::layout::page("Device", Some(&s), body).into_response(),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub struct MetaForm {
    #[serde(default)]
    csrf: String,
    key: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    delete: String,
}

/// Set or delete one user-meta key (the device reads it on its next poll).
pub async fn set_user_meta(
    State(hub): State<AppState>,
    s: Session,
    Path(id): Path<String>,
    Form(f): Form<MetaForm>,
) -> Response {
    if let Err(r) = s.check(&f.csrf) {
        return r;
    }
    let mut d = match owned(&hub, &s, &id).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let key = f.key.trim();
    if key.is_empty() {
        return (StatusCode::BAD_REQUEST, "an empty key").into_response();
    }
    if f.delete.is_empty() {
        d.user_meta.insert(key.to_string(), Value::String(f.value));
    } else {
        d.user_meta.remove(key);
    }
    match hub.store.db.set_user_meta(&d.id, &d.user_meta).await {
        Ok(_) => Redirect::to(&format!("/ui/devices/{id}")).into_response(),
        Err(e) => server_error(e),
    }
}

fn tree_html(name: &str, n: &Node) -> Markup {
    html! {
        li.dir {
            span.name { (name) "/" } span.size { (size(n.total)) }
            ul {
                @for (k, sub) in &n.dirs { (tree_html(k, sub)) }
                @for (k, leaf) in &n.files {
                    li.file {
                        span.name { (k) }
                        @match leaf {
                            Leaf::Object(sha, sz) => {
                                span.size { (sz.map(size).unwrap_or_else(|| "?".into())) }
                                code.sha title=(sha) { (sha.get(..12).unwrap_or(sha)) }
                            }
                            Leaf::Json(n) => { span.size { (size(*n)) } code.sha { "json" } }
                        }
                    }
                }
            }
        }
    }
}

pub async fn revision(
    State(hub): State<AppState>,
    s: Session,
    Path((id, rev)): Path<(String, i64)>,
) -> Response {
    let d = match owned(&hub, &s, &id).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let db = &hub.store.db;
    let step = match db.step(&id, rev).await {
        Ok(Some(st)) => st,
        Ok(None) => return (StatusCode::NOT_FOUND, "no such revision").into_response(),
        Err(e) => return server_error(e),
    };
    let mut sizes = std::collections::HashMap::new();
    if let Some(m) = step.state.as_object() {
        for sha in m.values().filter_map(Value::as_str) {
            if let Ok(Some(o)) = db.object(&d.owner, sha).await {
                sizes.insert(sha.to_string(), o.size);
            }
        }
    }
    let tree = Node::of(&step.state, &|sha| sizes.get(sha).copied());
    let body = html! {
        h1 { a href={"/ui/devices/" (d.id)} { (d.nick) } " · rev " (rev) " " (badge(&step.status)) }
        p.ids { "state sha " code { (step.state_sha) } " · " (tree.files.len() + tree.dirs.len()) " top-level parts, " (size(tree.total)) }
        ul.tree { (tree_html("", &tree)) }
    };
    crate::layout::page("Revision", Some(&s), body).into_response()
}

#[derive(Deserialize)]
pub struct DiffQuery {
    a: i64,
    b: i64,
}

fn short(v: &Value) -> String {
    match v {
        Value::String(s) => s.get(..12).unwrap_or(s).to_string(),
        v => v.to_string(),
    }
}

pub async fn diff(
    State(hub): State<AppState>,
    s: Session,
    Path(id): Path<String>,
    Query(q): Query<DiffQuery>,
) -> Response {
    let d = match owned(&hub, &s, &id).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let db = &hub.store.db;
    let (a, b) = match tokio::try_join!(db.step(&id, q.a), db.step(&id, q.b)) {
        Ok((Some(a), Some(b))) => (a, b),
        Ok(_) => return (StatusCode::NOT_FOUND, "no such revision").into_response(),
        Err(e) => return server_error(e),
    };
    let changes = state_diff(&a.state, &b.state);
    let body = html! {
        h1 { a href={"/ui/devices/" (d.id)} { (d.nick) } " · rev " (q.a) " → rev " (q.b) }
        @if changes.is_empty() { p.empty { "The two states are the same." } }
        @else {
            table.diff {
                thead { tr { th { "path" } th { "rev " (q.a) } th { "rev " (q.b) } } }
                tbody {
                    @for (path, c) in &changes {
                        @match c {
                            Change::Added(v) => tr.added { td { "+ " (path) } td {} td { code { (short(v)) } } },
                            Change::Removed(v) => tr.removed { td { "− " (path) } td { code { (short(v)) } } td {} },
                            Change::Changed(x, y) => tr.changed { td { "~ " (path) } td { code { (short(x)) } } td { code { (short(y)) } } },
                        }
                    }
                }
            }
        }
    };
    crate::layout::page("Diff", Some(&s), body).into_response()
}
