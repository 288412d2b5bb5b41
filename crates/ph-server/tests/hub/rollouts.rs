//! Staged rollouts over the real device protocol: simulated devices poll
//! with Pantavisor's query and report progress; the rollout's waves start,
//! pause on failures, resume, finish and abort. The same scenario runs on
//! SQLite and on a throwaway PostgreSQL cluster.

use pv_testkit::pg::PgCluster;
use serde_json::{json, Value};

use crate::common::{s, TestHub};

const POLL: &str = "/steps?progress.status=%7B%22$in%22:%5B%22NEW%22,%22DOWNLOADING%22,%22INPROGRESS%22,%22TESTING%22,%22QUEUED%22%5D%7D";

/// A simulated device: its id and token.
struct Dev {
    id: String,
    tok: String,
}

/// `n` claimed devices of the user of `utok`, each synced (factory trail).
async fn fleet(h: &TestHub, utok: &str, n: usize) -> Vec<Dev> {
    let mut out = vec![];
    for _ in 0..n {
        let (d, tok) = h.claimed_device(utok).await;
        let r = h
            .call(
                "POST",
                "/trails/",
                Some(&tok),
                Some(json!({"#spec": "pantavisor-service-system@1"})),
            )
            .await;
        assert_eq!(r.code(), 200, "{}", r.body);
        out.push(Dev {
            id: s(&d["id"]),
            tok,
        });
    }
    out
}

/// What the device's update poll returns.
async fn poll(h: &TestHub, d: &Dev) -> Vec<Value> {
    let r = h
        .call(
            "GET",
            &format!("/trails/{}{POLL}", d.id),
            Some(&d.tok),
            None,
        )
        .await;
    assert_eq!(r.code(), 200, "{}", r.body);
    r.body.as_array().unwrap().clone()
}

/// The device takes its pending step through QUEUED… to `end`; returns the step.
async fn apply(h: &TestHub, d: &Dev, end: &str) -> Value {
    let steps = poll(h, d).await;
    assert_eq!(steps.len(), 1, "device {} has one update: {steps:?}", d.id);
    let rev = steps[0]["rev"].as_i64().unwrap();
    for status in ["QUEUED", "DOWNLOADING", "INPROGRESS", end] {
        let r = h
            .call(
                "PUT",
                &format!("/trails/{}/steps/{rev}/progress", d.id),
                Some(&d.tok),
                Some(json!({"status": status, "progress": 50, "status-msg": status, "logs": ""})),
            )
            .await;
        assert_eq!(r.code(), 200, "{}", r.body);
    }
    steps[0].clone()
}

async fn rollout(h: &TestHub, tok: &str, id: &str) -> Value {
    let r = h
        .call("GET", &format!("/rollouts/{id}"), Some(tok), None)
        .await;
    assert_eq!(r.code(), 200, "{}", r.body);
    r.body
}

async fn act(h: &TestHub, tok: &str, id: &str, verb: &str) -> (u16, Value) {
    let r = h
        .call("POST", &format!("/rollouts/{id}/{verb}"), Some(tok), None)
        .await;
    (r.code(), r.body)
}

fn wave(r: &Value, i: usize) -> (String, i64, i64, i64) {
    let w = &r["waves"][i];
    (
        s(&w["status"]),
        w["done"].as_i64().unwrap(),
        w["failed"].as_i64().unwrap(),
        w["pending"].as_i64().unwrap(),
    )
}

fn ids(devs: &[Dev]) -> Vec<String> {
    devs.iter().map(|d| d.id.clone()).collect()
}

/// Waves by count: the second starts when the first is done, a failure
/// pauses with a reason, resuming accepts it and the rollout finishes.
async fn waves_pause_on_failure(h: &TestHub, u: &str, devs: &[Dev], state: &Value) {
    let r = h
        .call(
            "POST",
            "/rollouts",
            Some(u),
            Some(
                json!({"state": state, "commit-msg": "wave test", "devices": ids(devs),
                        "waves": [1, 2], "failure-threshold": 0.0}),
            ),
        )
        .await;
    assert_eq!(r.code(), 201, "{}", r.body);
    let id = r.s("id");
    assert_eq!(r.s("status"), "running");
    assert_eq!(r.body["waves"][0]["devices"], json!([devs[0].id]));
    assert_eq!(wave(&r.body, 0), ("running".into(), 0, 0, 1));
    assert_eq!(wave(&r.body, 1), ("pending".into(), 0, 0, 2));
    assert!(poll(h, &devs[1]).await.is_empty(), "wave 2 has not started");

    let step = apply(h, &devs[0], "DONE").await;
    assert_eq!(step["commit-msg"], "wave test");
    assert_eq!(step["state"], *state);
    let r = rollout(h, u, &id).await;
    assert_eq!(wave(&r, 0), ("done".into(), 1, 0, 0));
    assert_eq!(wave(&r, 1), ("running".into(), 0, 0, 2));

    apply(h, &devs[1], "ERROR").await;
    let r = rollout(h, u, &id).await;
    assert_eq!(r["status"], "paused", "{r}");
    assert!(s(&r["reason"]).contains("wave 2: 1 of 2"), "{r}");
    assert_eq!(wave(&r, 1), ("paused".into(), 0, 1, 1));
    apply(h, &devs[2], "UPDATED").await;
    assert_eq!(rollout(h, u, &id).await["status"], "paused");

    let (code, r) = act(h, u, &id, "resume").await;
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["status"], "done", "{r}");
    assert_eq!(r["reason"], "");
    assert_eq!(wave(&r, 1), ("done".into(), 1, 1, 0));
    assert_eq!(act(h, u, &id, "pause").await.0, 409);
    assert_eq!(act(h, u, &id, "abort").await.0, 409);
}

/// Devices by user-meta selector in percent waves; pause holds the next
/// wave, resume starts it, abort cancels the steps no device took yet.
async fn selector_pause_resume_abort(h: &TestHub, u: &str, devs: &[Dev], state: &Value) {
    for d in devs {
        let r = h
            .call(
                "PUT",
                &format!("/devices/{}/user-meta", d.id),
                Some(u),
                Some(json!({"group": "canary"})),
            )
            .await;
        assert_eq!(r.code(), 200, "{}", r.body);
    }
    let r = h
        .call(
            "POST",
            "/rollouts",
            Some(u),
            Some(json!({"state": state, "selector": {"group": "canary"},
                        "wave-percent": [50, 50], "failure-threshold": 0.5})),
        )
        .await;
    assert_eq!(r.code(), 201, "{}", r.body);
    let id = r.s("id");
    let first: Vec<String> = serde_json::from_value(r.body["waves"][0]["devices"].clone()).unwrap();
    assert_eq!(first.len(), 2);
    let (w0, w1): (Vec<&Dev>, Vec<&Dev>) = devs.iter().partition(|d| first.contains(&d.id));

    let (code, r) = act(h, u, &id, "pause").await;
    assert_eq!((code, s(&r["status"])), (200, "paused".into()), "{r}");
    assert_eq!(r["reason"], "paused by user1");
    for d in &w0 {
        apply(h, d, "DONE").await;
    }
    let r = rollout(h, u, &id).await;
    assert_eq!(r["status"], "paused");
    assert_eq!(wave(&r, 0), ("done".into(), 2, 0, 0));
    assert_eq!(wave(&r, 1), ("pending".into(), 0, 0, 1));
    assert!(
        poll(h, w1[0]).await.is_empty(),
        "a paused rollout holds wave 2"
    );

    let (code, r) = act(h, u, &id, "resume").await;
    assert_eq!((code, s(&r["status"])), (200, "running".into()), "{r}");
    assert_eq!(wave(&r, 1), ("running".into(), 0, 0, 1));
    let rev = r["waves"][1]["revs"][&w1[0].id].as_i64().unwrap();

    let (code, r) = act(h, u, &id, "abort").await;
    assert_eq!((code, s(&r["status"])), (200, "aborted".into()), "{r}");
    assert!(
        poll(h, w1[0]).await.is_empty(),
        "the aborted step is cancelled"
    );
    let st = h
        .call(
            "GET",
            &format!("/trails/{}/steps/{rev}", w1[0].id),
            Some(u),
            None,
        )
        .await;
    assert_eq!(st.body["progress"]["status"], "CANCEL", "{}", st.body);
    assert_eq!(act(h, u, &id, "resume").await.0, 409);
    assert_eq!(act(h, u, &id, "abort").await.0, 200, "abort is idempotent");
}

/// The devices of a wave report their final status at once: the next wave
/// is posted exactly once.
async fn concurrent_final_reports(h: &TestHub, u: &str, devs: &[Dev], state: &Value) {
    let r = h
        .call(
            "POST",
            "/rollouts",
            Some(u),
            Some(json!({"state": state, "devices": ids(devs), "waves": [3, 1]})),
        )
        .await;
    assert_eq!(r.code(), 201, "{}", r.body);
    let id = r.s("id");
    tokio::join!(
        apply(h, &devs[0], "DONE"),
        apply(h, &devs[1], "UPDATED"),
        apply(h, &devs[2], "DONE")
    );
    let last = &devs[3];
    let r = h
        .call("GET", &format!("/trails/{}/steps", last.id), Some(u), None)
        .await;
    assert_eq!(r.body.as_array().unwrap().len(), 1, "one step: {}", r.body);
    apply(h, last, "DONE").await;
    let r = rollout(h, u, &id).await;
    assert_eq!(r["status"], "done", "{r}");
    assert_eq!(wave(&r, 0), ("done".into(), 3, 0, 0));
}

/// Bad input and foreign callers are refused with clear errors, and
/// nothing is created.
async fn refusals(h: &TestHub, u: &str, devs: &[Dev], state: &Value) {
    let (_, u2) = h.user("user2").await;
    let before = h.call("GET", "/rollouts", Some(u), None).await.body;
    let post = |tok: String, body: Value| async move {
        let r = h.call("POST", "/rollouts", Some(&tok), Some(body)).await;
        assert_eq!(r.body["code"], r.code(), "{}", r.body);
        assert!(r.body["error"].is_string(), "{}", r.body);
        r.code()
    };
    let one = json!([devs[0].id]);
    let ut = u.to_string();
    assert_eq!(
        post(devs[0].tok.clone(), json!({"state": state, "devices": one})).await,
        403
    );
    assert_eq!(
        post(u2.clone(), json!({"state": state, "devices": one})).await,
        403
    );
    assert_eq!(
        post(
            ut.clone(),
            json!({"state": state, "devices": ["0123456789abcdef01234567"]})
        )
        .await,
        404
    );
    for bad in [
        json!({"state": state, "devices": one, "selector": {"a": "b"}}),
        json!({"state": state}),
        json!({"state": state, "devices": one, "waves": [2]}),
        json!({"state": state, "devices": one, "wave-percent": [60]}),
        json!({"state": state, "devices": one, "failure-threshold": 2}),
        json!({"state": state, "selector": {"group": "nobody"}}),
        json!({"devices": one}),
        json!({"state": {"#spec": "foo@1"}, "devices": one}),
        json!({"state": state, "devices": one, "wavez": [1]}),
    ] {
        assert_eq!(post(ut.clone(), bad.clone()).await, 400, "{bad}");
    }
    let unknown = json!({"#spec": "pantavisor-service-system@1", "g": "ab".repeat(32)});
    assert!(post(ut.clone(), json!({"state": unknown, "devices": one})).await >= 400);
    assert_eq!(h.call("GET", "/rollouts", Some(u), None).await.body, before);

    let id = s(&before[0]["id"]);
    for (m, p) in [
        ("GET", format!("/rollouts/{id}")),
        ("POST", format!("/rollouts/{id}/pause")),
        ("POST", format!("/rollouts/{id}/abort")),
    ] {
        assert_eq!(h.call(m, &p, Some(&u2), None).await.code(), 403, "{m} {p}");
        assert_eq!(h.call(m, &p, Some(&devs[0].tok), None).await.code(), 403);
        assert_eq!(h.call(m, &p, None, None).await.code(), 401);
    }
    assert_eq!(
        h.call("GET", "/rollouts", Some(&u2), None).await.body,
        json!([])
    );
    let r = h.call("GET", "/rollouts/nope", Some(u), None).await;
    assert_eq!(r.code(), 404);
    assert_eq!(rollout(h, u, &id).await["status"], before[0]["status"]);
}

async fn scenario(h: TestHub) {
    let (_, u) = h.user("user1").await;
    let devs = fleet(&h, &u, 10).await;
    let sha = h.upload(&u, "f", b"rollout payload\n").await;
    let state = json!({"#spec": "pantavisor-service-system@1", "f": sha});
    waves_pause_on_failure(&h, &u, &devs[0..3], &state).await;
    selector_pause_resume_abort(&h, &u, &devs[3..6], &state).await;
    concurrent_final_reports(&h, &u, &devs[6..10], &state).await;
    refusals(&h, &u, &devs, &state).await;
    let all = h.call("GET", "/rollouts", Some(&u), None).await.body;
    assert_eq!(all.as_array().unwrap().len(), 3);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollouts_on_sqlite() {
    scenario(TestHub::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollouts_on_postgres() {
    let pg = PgCluster::start();
    scenario(TestHub::start_on(&pg.url).await).await;
}
