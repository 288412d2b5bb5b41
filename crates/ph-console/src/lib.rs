//! The hub's web console, served by `pantahub serve` next to the API:
//! server-rendered pages (maud) over the same store and accounts, a
//! stylesheet and a small script compiled in (no build toolchain).
//!
//! | path | what |
//! |---|---|
//! | `GET /`, `GET /ui` | the fleet (or the login) |
//! | `GET/POST /ui/login`, `POST /ui/logout` | a user login (the form's CSRF token double-submitted in a pre-session cookie); the session is the API's user token in an `HttpOnly; SameSite=Strict` cookie |
//! | `GET /ui/fleet?meta=K=V&page=N` | counts per status, then one page of devices: nick, online/offline, running revision, last progress |
//! | `GET/POST /ui/claim` | claim a device by id and challenge |
//! | `GET/POST /ui/tokens` | join tokens; a new one is shown once as its `PH_FACTORY_AUTOTOK=` line |
//! | `GET /ui/devices/{id}` | steps timeline (followed live), device-meta, editable user-meta, links to states, diffs, logs |
//! | `GET /ui/devices/{id}/steps`, `…/head`, `…/device-meta` | the timeline, the name/contact/running revision, the device-meta table alone (what the page's script polls) |
//! | `GET /ui/devices/{id}/revs/{rev}` | a revision's state as a tree with object sizes |
//! | `GET /ui/devices/{id}/diff?a=&b=` | what changed between two revisions |
//! | `POST /ui/devices/{id}/user-meta` | set or delete a user-meta key |
//! | `GET /ui/devices/{id}/logs?lvl=&src=&plat=&text=` | filtered logs with a live tail (`…/logs/rows?after=ID`) |
//! | `GET/POST /ui/rollouts` | rollouts with their waves; create one (through the API's `/rollouts`, called in-process) |
//! | `POST /ui/rollouts/export` | a pvr export's objects uploaded, its state returned (the rollout form's script) |
//! | `GET /ui/rollouts/{id}` | one rollout: a bar per wave (done/failed/pending; a settled wave with failures says "failed") followed live (`…/live`); `POST …/{pause,resume,abort}` |
//! | `GET /ui/assets/{console.css,console.js}` | the assets |
//!
//! Every form that changes something carries a CSRF token derived from
//! the session ([`session::Session::csrf`]); every device route answers
//! 404 unless the device is the session user's.

// Handlers and their helpers return the answer to send as their error.
#![allow(clippy::result_large_err)]

mod device;
mod export;
mod fleet;
mod layout;
mod logs;
mod rollouts;
mod session;
mod tree;

use axum::http::header;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::Router;
use ph_server::AppState;

/// The console's routes, with the hub as state; mounted in front of the
/// API router (`ph_server::app_with`).
pub fn router(state: AppState) -> Router {
    let (api, _) = ph_server::routes::table(state.clone());
    Router::new()
        .route("/", get(home))
        .route("/ui", get(home))
        .route("/ui/login", get(session::login_page).post(session::login))
        .route("/ui/logout", post(session::logout))
        .route("/ui/fleet", get(fleet::fleet))
        .route("/ui/claim", get(fleet::claim_page).post(fleet::claim))
        .route(
            "/ui/tokens",
            get(fleet::tokens_page).post(fleet::create_token),
        )
        .route("/ui/devices/{id}", get(device::page))
        .route("/ui/devices/{id}/steps", get(device::steps))
        .route("/ui/devices/{id}/head", get(device::head_part))
        .route(
            "/ui/devices/{id}/device-meta",
            get(device::device_meta_part),
        )
        .route("/ui/devices/{id}/revs/{rev}", get(device::revision))
        .route("/ui/devices/{id}/diff", get(device::diff))
        .route("/ui/devices/{id}/user-meta", post(device::set_user_meta))
        .route("/ui/devices/{id}/logs", get(logs::page))
        .route("/ui/devices/{id}/logs/rows", get(logs::rows))
        .route("/ui/rollouts", get(rollouts::list).post(rollouts::create))
        .route(
            "/ui/rollouts/export",
            post(export::upload).layer(axum::extract::DefaultBodyLimit::max(export::MAX)),
        )
        .route("/ui/rollouts/{id}", get(rollouts::show))
        .route("/ui/rollouts/{id}/live", get(rollouts::live_part))
        .route("/ui/rollouts/{id}/{action}", post(rollouts::act))
        .route("/ui/assets/console.css", get(css))
        .route("/ui/assets/console.js", get(js))
        .layer(axum::Extension(rollouts::Api(api)))
        .with_state(state)
}

async fn home(s: Option<session::Session>) -> Redirect {
    match s {
        Some(_) => Redirect::to("/ui/fleet"),
        None => Redirect::to("/ui/login"),
    }
}

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        include_str!("../assets/console.css"),
    )
}

async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        include_str!("../assets/console.js"),
    )
}
