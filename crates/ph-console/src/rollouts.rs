//! Rollouts: create one (the state of a device's revision, or a state
//! JSON whose objects are on the hub; a user-meta selector or device ids;
//! waves as counts or percents; a failure threshold), watch it wave by
//! wave (bars of done/failed/pending, followed live), pause, resume,
//! abort.
//!
//! Every action goes through the API's own `/rollouts` handlers, called
//! in-process with the session's token: one implementation of the rules.

use axum::body::Body;
use axum::extract::{Extension, Form, Path, State};
use axum::http::{header, Request, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Router;
use maud::{html, Markup};
use ph_server::AppState;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tower::ServiceExt;

use crate::layout::page;
use crate::session::Session;

/// The API's router, for in-process calls.
#[derive(Clone)]
pub struct Api(pub Router);

impl Api {
    /// Call the API as the session's user; (status, JSON answer).
    pub async fn call(
        &self,
        s: &Session,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        self.call_bytes(s, method, path, bytes).await
    }

    /// The same with a body of bytes.
    pub async fn call_bytes(
        &self,
        s: &Session,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", s.token))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, "ph-console")
            .body(Body::from(body));
        let Ok(req) = req else {
            return (StatusCode::BAD_REQUEST, json!({"error": "bad request"}));
        };
        let Ok(resp) = self.0.clone().oneshot(req).await;
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20)
            .await
            .unwrap_or_default();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

fn api_error(v: &Value) -> String {
    v.get("error")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string())
}

/// What a wave's row says: the API's status (`pending`, `running`,
/// `paused`, `aborted`, or `done` once no device is pending), except that
/// a settled wave with failed devices says `failed` (the API keeps `done`
/// for its clients: it is the wave's lifecycle, the counts its outcome).
fn wave_label(w: &Value) -> &str {
    let status = w["status"].as_str().unwrap_or("");
    if status == "done" && w["failed"].as_u64().unwrap_or(0) > 0 {
        "failed"
    } else {
        status
    }
}

fn wave_class(label: &str) -> &'static str {
    match label {
        "done" => "ok",
        "failed" | "paused" | "aborted" => "bad",
        "pending" => "none",
        _ => "busy",
    }
}

fn wave_bars(r: &Value) -> Markup {
    let waves = r["waves"].as_array().cloned().unwrap_or_default();
    html! {
        table.waves {
            thead { tr { th { "wave" } th { "devices" } th { "progress" } th { "done" } th { "failed" } th { "pending" } th { "status" } } }
            tbody {
                @for (i, w) in waves.iter().enumerate() {
                    @let n = w["devices"].as_array().map_or(0, |d| d.len()).max(1) as f64;
                    @let (d, f, p) = (w["done"].as_u64().unwrap_or(0), w["failed"].as_u64().unwrap_or(0), w["pending"].as_u64().unwrap_or(0));
                    @let label = wave_label(w);
                    tr class={"wave wave-" (label)} {
                        td { (i + 1) }
                        td { (n as u64) }
                        td {
                            div.bar title={(d) " done, " (f) " failed, " (p) " pending"} {
                                span.done style={"width:" (d as f64 * 100.0 / n) "%"} {}
                                span.failed style={"width:" (f as f64 * 100.0 / n) "%"} {}
                                span.pending style={"width:" (p as f64 * 100.0 / n) "%"} {}
                            }
                        }
                        td.num { (d) } td.num { (f) } td.num { (p) }
                        td { span class={"badge " (wave_class(label))} { (label) } }
                    }
                }
            }
        }
    }
}

fn status_line(r: &Value) -> Markup {
    let st = r["status"].as_str().unwrap_or("");
    let shown = match st {
        "running" => "INPROGRESS",
        "done" => "DONE",
        "paused" | "aborted" => "ERROR",
        _ => "",
    };
    html! {
        p.rollout-status {
            span class={"badge " (if shown == "DONE" { "ok" } else if shown == "ERROR" { "bad" } else { "busy" })} { (st) }
            @if let Some(reason) = r["reason"].as_str().filter(|x| !x.is_empty()) { " " span.reason { (reason) } }
        }
    }
}

/// The live part of a rollout's page (status and waves).
fn live(r: &Value) -> Markup {
    html! { (status_line(r)) (wave_bars(r)) }
}

fn create_form(s: &Session, error: Option<&str>) -> Markup {
    html! {
        section.card {
            h2 { "New rollout" }
            @if let Some(e) = error { p.error { (e) } }
            form.grid id="new-rollout" method="post" action="/ui/rollouts" {
                input type="hidden" name="csrf" value=(s.csrf);
                label { "State: the revision of a device (device id)" input name="from_device"; }
                label { "…its revision" input name="from_rev" placeholder="latest"; }
                label { "or a pvr export (tar or tar.gz)" input type="file" id="export-file" data-csrf=(s.csrf); }
                label { "or a state JSON (its objects on the hub)" textarea name="state" rows="3" {} }
                label { "Commit message" input name="msg"; }
                label { "Devices: user-meta selector (key=value, …)" input name="selector"; }
                label { "or device ids (comma-separated)" input name="devices"; }
                label { "Waves: counts (1,4,20) or percents (10%,90%)" input name="waves"; }
                label { "Pause when more than this % of a wave fails" input name="threshold" value="0"; }
                div { button type="submit" { "Start the rollout" } }
            }
        }
    }
}

async fn list_body(api: &Api, s: &Session, error: Option<&str>) -> Markup {
    let (_, list) = api.call(s, "GET", "/rollouts", None).await;
    let list = list.as_array().cloned().unwrap_or_default();
    html! {
        h1 { "Rollouts" }
        @if list.is_empty() { p.empty { "No rollout yet." } }
        @for r in list.iter().rev() {
            section.card.rollout {
                h2 { a href={"/ui/rollouts/" (r["id"].as_str().unwrap_or(""))} {
                    "“" (r["commit-msg"].as_str().unwrap_or("")) "” " } small { (r["created"].as_str().unwrap_or("")) } }
                (live(r))
            }
        }
        (create_form(s, error))
    }
}

pub async fn list(Extension(api): Extension<Api>, s: Session) -> Response {
    page("Rollouts", Some(&s), list_body(&api, &s, None).await).into_response()
}

#[derive(Deserialize)]
pub struct NewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    from_device: String,
    #[serde(default)]
    from_rev: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    selector: String,
    #[serde(default)]
    devices: String,
    #[serde(default)]
    waves: String,
    #[serde(default)]
    threshold: String,
}

fn list_of(s: &str) -> Vec<&str> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .collect()
}

/// The API's request body from the form, or what is wrong with it.
async fn request(hub: &AppState, api: &Api, s: &Session, f: &NewForm) -> Result<Value, String> {
    let state = if !f.from_device.trim().is_empty() {
        let dev = f.from_device.trim();
        let rev = if f.from_rev.trim().is_empty() {
            let latest = match crate::device::owned(hub, s, dev).await {
                Ok(_) => hub
                    .store
                    .db
                    .latest_step(dev)
                    .await
                    .map_err(|e| e.to_string())?,
                Err(_) => None,
            };
            latest
                .map(|st| st.rev)
                .ok_or_else(|| format!("device {dev}: none of yours, or no revision yet"))?
        } else {
            f.from_rev
                .trim()
                .parse()
                .map_err(|_| "the revision is a number".to_string())?
        };
        let (st, state) = api
            .call(s, "GET", &format!("/trails/{dev}/steps/{rev}/state"), None)
            .await;
        if !st.is_success() {
            return Err(format!("device {dev} rev {rev}: {}", api_error(&state)));
        }
        state
    } else if !f.state.trim().is_empty() {
        serde_json::from_str(&f.state).map_err(|e| format!("the state JSON: {e}"))?
    } else {
        return Err("give a device's revision or a state".into());
    };
    let mut b = json!({"state": state, "commit-msg": f.msg.trim()});
    let sel: Map<String, Value> = list_of(&f.selector)
        .into_iter()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), Value::String(v.trim().to_string())))
        .collect();
    if !sel.is_empty() {
        b["selector"] = Value::Object(sel);
    }
    let devices = list_of(&f.devices);
    if !devices.is_empty() {
        b["devices"] = json!(devices);
    }
    let waves = list_of(&f.waves);
    if waves.iter().any(|w| w.ends_with('%')) {
        let p: Result<Vec<f64>, _> = waves
            .iter()
            .map(|w| w.trim_end_matches('%').trim().parse())
            .collect();
        b["wave-percent"] = json!(p.map_err(|_| "wave percents are numbers".to_string())?);
    } else if !waves.is_empty() {
        let c: Result<Vec<u64>, _> = waves.iter().map(|w| w.parse()).collect();
        b["waves"] = json!(c.map_err(|_| "wave sizes are counts".to_string())?);
    }
    let t = f.threshold.trim().trim_end_matches('%');
    let t: f64 = if t.is_empty() {
        0.0
    } else {
        t.parse()
            .map_err(|_| "the threshold is a percent".to_string())?
    };
    b["failure-threshold"] = json!(t / 100.0);
    Ok(b)
}

pub async fn create(
    State(hub): State<AppState>,
    Extension(api): Extension<Api>,
    s: Session,
    Form(f): Form<NewForm>,
) -> Response {
    if let Err(r) = s.check(&f.csrf) {
        return r;
    }
    let err = match request(&hub, &api, &s, &f).await {
        Ok(body) => {
            let (st, r) = api.call(&s, "POST", "/rollouts", Some(body)).await;
            if st.is_success() {
                let id = r["id"].as_str().unwrap_or("");
                return Redirect::to(&format!("/ui/rollouts/{id}")).into_response();
            }
            api_error(&r)
        }
        Err(e) => e,
    };
    let body = list_body(&api, &s, Some(&err)).await;
    (StatusCode::BAD_REQUEST, page("Rollouts", Some(&s), body)).into_response()
}

async fn get(api: &Api, s: &Session, id: &str) -> Result<Value, Response> {
    if !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err((StatusCode::NOT_FOUND, "no such rollout").into_response());
    }
    let (st, r) = api.call(s, "GET", &format!("/rollouts/{id}"), None).await;
    if st.is_success() {
        return Ok(r);
    }
    let body =
        html! { h1 { "No such rollout" } p { a href="/ui/rollouts" { "Back to the rollouts" } } };
    Err((StatusCode::NOT_FOUND, page("Not found", Some(s), body)).into_response())
}

/// Pause, resume and abort, as the rollout's status allows.
fn actions(r: &Value, s: &Session) -> Markup {
    let id = r["id"].as_str().unwrap_or("");
    let st = r["status"].as_str().unwrap_or("");
    let action = |a: &str, label: &str| {
        html! {
            form.inline method="post" action={"/ui/rollouts/" (id) "/" (a)} {
                input type="hidden" name="csrf" value=(s.csrf);
                button type="submit" id={"rollout-" (a)} { (label) }
            }
        }
    };
    html! {
        div.actions {
            @if st == "running" { (action("pause", "Pause")) }
            @if st == "paused" { (action("resume", "Resume")) }
            @if st == "running" || st == "paused" { (action("abort", "Abort")) }
        }
    }
}

pub async fn show(Extension(api): Extension<Api>, s: Session, Path(id): Path<String>) -> Response {
    let r = match get(&api, &s, &id).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let body = html! {
        h1 { a href="/ui/rollouts" { "Rollouts" } " · “" (r["commit-msg"].as_str().unwrap_or("")) "”" }
        p.ids { "id " code { (id) } " · state sha " code { (r["state-sha"].as_str().unwrap_or("")) }
            " · failure threshold " (r["failure-threshold"].as_f64().unwrap_or(0.0) * 100.0) "%" }
        div id="rollout-live" data-poll={"/ui/rollouts/" (id) "/live"} data-every="1000" {
            (live(&r)) (actions(&r, &s))
        }
    };
    page("Rollout", Some(&s), body).into_response()
}

pub async fn live_part(
    Extension(api): Extension<Api>,
    s: Session,
    Path(id): Path<String>,
) -> Response {
    match get(&api, &s, &id).await {
        Ok(r) => Html(html! { (live(&r)) (actions(&r, &s)) }.into_string()).into_response(),
        Err(resp) => resp,
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn act(
    Extension(api): Extension<Api>,
    s: Session,
    Path((id, action)): Path<(String, String)>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(r) = s.check(&f.csrf) {
        return r;
    }
    if !matches!(action.as_str(), "pause" | "resume" | "abort")
        || !id.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return (StatusCode::NOT_FOUND, "no such action").into_response();
    }
    let (st, r) = api
        .call(&s, "POST", &format!("/rollouts/{id}/{action}"), None)
        .await;
    if !st.is_success() {
        return (
            st,
            page("Rollout", Some(&s), html! { p.error { (api_error(&r)) } }),
        )
            .into_response();
    }
    Redirect::to(&format!("/ui/rollouts/{id}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_settled_wave_with_failures_says_failed() {
        let w = |status: &str, done: u64, failed: u64| json!({"status": status, "done": done, "failed": failed, "pending": 0});
        assert_eq!(wave_label(&w("done", 2, 0)), "done");
        assert_eq!(wave_label(&w("done", 0, 1)), "failed");
        assert_eq!(wave_label(&w("done", 3, 1)), "failed");
        for st in ["paused", "pending", "running", "aborted"] {
            assert_eq!(wave_label(&w(st, 0, 1)), st);
        }
        assert_eq!(wave_class("failed"), "bad");
        assert_eq!(wave_class("done"), "ok");
    }
}
