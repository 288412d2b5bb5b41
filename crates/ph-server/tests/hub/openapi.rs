//! `openapi.json` describes exactly the routes of the router, and each of
//! them is answered by a handler (not the not-found fallback).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::common::TestHub;

fn documented() -> BTreeSet<(String, String)> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let mut out = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (m, op) in ops.as_object().unwrap() {
            assert!(
                op["description"].is_string(),
                "{m} {path} has a description"
            );
            out.insert((m.to_uppercase(), path.clone()));
        }
    }
    out
}

#[test]
fn openapi_lists_every_route() {
    let routes: BTreeSet<(String, String)> = ph_server::routes::route_list().into_iter().collect();
    let docs = documented();
    let missing: Vec<_> = routes.difference(&docs).collect();
    let extra: Vec<_> = docs.difference(&routes).collect();
    assert!(
        missing.is_empty(),
        "routes not in openapi.json: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "openapi.json paths the router lacks: {extra:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_route_is_served() {
    let h = TestHub::start().await;
    for (m, p) in documented() {
        let path = p
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x0" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        let r = h.call(&m, &path, None, None).await;
        assert_ne!(r.code(), 405, "{m} {p}");
        if r.code() == 404 {
            assert_ne!(r.body["error"], "no such route", "{m} {p}");
        }
    }
    // and the fallback does answer unknown routes
    let r = h.call("GET", "/nowhere", None, None).await;
    assert_eq!(r.code(), 404);
    assert_eq!(r.body["error"], "no such route");
    h.stop().await;
}
