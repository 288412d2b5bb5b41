//! The fleet page's server time with N devices (default 10,000) in
//! SQLite, against the API's `GET /devices` of the same account measured
//! in the same run (`bench/console-fleet.sh` runs this).
//!
//! Every device has a trail with a step (a third of them still in
//! progress), device-meta with a revision, user-meta with a site; half of
//! them reported lately (online).

use std::time::Instant;

use axum::body::Body;
use axum::http::Request;
use serde_json::{json, Map, Value};
use tower::ServiceExt;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

async fn time(app: &axum::Router, uri: &str, header: (&str, &str), reps: usize) -> (f64, usize) {
    let mut ms = vec![];
    let mut len = 0;
    for _ in 0..reps {
        let req = Request::get(uri)
            .header(header.0, header.1)
            .header("user-agent", "bench")
            .body(Body::empty())
            .unwrap();
        let t = Instant::now();
        let resp = app.clone().oneshot(req).await.unwrap();
        assert!(resp.status().is_success(), "{uri}: {}", resp.status());
        let body = axum::body::to_bytes(resp.into_body(), 1 << 30)
            .await
            .unwrap();
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        len = body.len();
    }
    (median(ms), len)
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let reps = 11;
    let dir = tempfile::tempdir().unwrap();
    let hub = ph_server::Hub::open_dir(dir.path(), ph_server::HubConfig::new("http://127.0.0.1"))
        .await
        .unwrap();
    let a = ph_server::users::add_user(&hub.store, "fleet", "fleet@example.com", "pw-fleet", true)
        .await
        .unwrap();
    let db = &hub.store.db;
    let t = Instant::now();
    let now = ph_store::now_nanos();
    for i in 0..n {
        let id = format!("{:024x}", i + 1);
        let mut um = Map::new();
        um.insert("site".into(), json!(format!("site-{}", i % 20)));
        let d = ph_store::Device {
            id: id.clone(),
            prn: format!("prn:::devices:/{id}"),
            nick: format!("device-{i:05}"),
            owner: a.prn.clone(),
            secret: "s".into(),
            challenge: String::new(),
            public: false,
            user_meta: um,
            device_meta: Map::new(),
            created: now,
            modified: now,
        };
        db.create_device(&d).await.unwrap();
        let state = json!({"#spec": "pantavisor-service-system@1", "n": i});
        let (status, pct) = if i % 3 == 0 {
            ("INPROGRESS", 40)
        } else {
            ("DONE", 100)
        };
        let trail = ph_store::Trail {
            id: id.clone(),
            owner: a.prn.clone(),
            device: d.prn.clone(),
            factory_state: state.clone(),
            last_insync: now,
            last_touched: now,
            created: now,
            modified: now,
        };
        let step = ph_store::NewStep {
            trail_id: id.clone(),
            rev: Some(0),
            owner: a.prn.clone(),
            device: d.prn.clone(),
            committer: String::new(),
            commit_msg: "factory".into(),
            state,
            state_sha: format!("{i:064x}"),
            progress: json!({"status": status, "progress": pct, "status-msg": "bench"}),
            status: status.into(),
            meta: json!({}),
            objects: vec![],
            progress_time: now,
        };
        db.create_trail(&trail, &step).await.unwrap();
        if i % 2 == 0 {
            let mut dm = Map::new();
            dm.insert("pantavisor.revision".into(), Value::String("0".into()));
            db.set_device_meta(&id, &dm).await.unwrap();
        }
    }
    eprintln!("{n} devices stored in {:.1} s", t.elapsed().as_secs_f64());
    let token = ph_server::users::user_token(&hub.keys, &a, "fleet", 3600);
    let app = ph_server::app_with(hub.clone(), ph_console::router(hub.clone()));
    let cookie = format!("ph_console={token}");
    let bearer = format!("Bearer {token}");
    let (fleet, fleet_len) = time(&app, "/ui/fleet", ("cookie", &cookie), reps).await;
    let (filtered, _) = time(
        &app,
        "/ui/fleet?meta=site%3Dsite-7&page=2",
        ("cookie", &cookie),
        reps,
    )
    .await;
    let (last, _) = time(
        &app,
        &format!("/ui/fleet?page={}", n / 50 - 1),
        ("cookie", &cookie),
        reps,
    )
    .await;
    let (api, api_len) = time(&app, "/devices", ("authorization", &bearer), reps).await;
    println!("devices: {n}");
    println!("fleet page (first 50, counts over all): {fleet:.1} ms ({fleet_len} bytes)");
    println!("fleet page filtered site=site-7, page 3: {filtered:.1} ms");
    println!("fleet page, last page: {last:.1} ms");
    println!("reference GET /devices (all {n}): {api:.1} ms ({api_len} bytes)");
    println!("ratio fleet page / GET /devices: {:.3}", fleet / api);
}
