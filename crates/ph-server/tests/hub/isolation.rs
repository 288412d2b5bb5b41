//! Tenant isolation: every authenticated route, called about user A's
//! things with user B's token, B's device's token, an expired token, a
//! tampered token and no token, is refused (or answers only about the
//! caller's own things), and nothing of A's changes.

use std::collections::BTreeSet;

use ph_server::Claims;
use serde_json::{json, Value};

use crate::common::{s, TestHub};

const SYS: &str = "pantavisor-service-system@1";

/// Routes that need no token (their refusals are tested elsewhere).
const OPEN: &[(&str, &str)] = &[
    ("POST", "/auth/login"),
    ("POST", "/auth/accounts"),
    ("GET", "/auth/verify"),
    ("POST", "/devices"),
    ("GET", "/healthz"),
    ("GET", "/local-s3/{token}"),
    ("HEAD", "/local-s3/{token}"),
    ("PUT", "/local-s3/{token}"),
    ("GET", "/s3/{token}"),
    ("HEAD", "/s3/{token}"),
    ("PUT", "/s3/{token}"),
];

/// Everything of A's that a foreign caller must not change.
async fn snapshot(h: &TestHub, a: &str, dev: &str) -> String {
    let db = &h.hub.store.db;
    let logs = db
        .query_logs(&ph_store::LogQuery {
            own: a.into(),
            page: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut steps = db.steps(dev, &Default::default()).await.unwrap();
    for s in &mut steps {
        s.modified = 0;
    }
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        db.device_by_id(dev).await.unwrap(),
        db.trail_by_id(dev).await.unwrap(),
        steps,
        db.objects_of(a).await.unwrap(),
        logs,
        db.profile_meta(a).await.unwrap(),
        db.device_tokens_of(a).await.unwrap(),
        db.devices_of(a, false).await.unwrap().len(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_expired_tampered_and_missing_tokens_change_nothing() {
    let h = TestHub::start().await;
    let (a_prn, a) = h.user("alice").await;
    let (_, b) = h.user("bob").await;
    let (da, dat) = h.claimed_device(&a).await;
    let (_, dbt) = h.claimed_device(&b).await;
    let id = s(&da["id"]);
    let sha = h.upload(&a, "f", b"alice's bytes").await;
    let r = h
        .call(
            "POST",
            "/trails/",
            Some(&dat),
            Some(json!({"#spec":SYS,"f":sha})),
        )
        .await;
    assert_eq!(r.code(), 200);
    let step = json!({"rev":-1,"commit-msg":"m","state":{"#spec":SYS,"f":sha}});
    assert_eq!(
        h.call(
            "POST",
            &format!("/trails/{id}/steps"),
            Some(&a),
            Some(step.clone())
        )
        .await
        .code(),
        200
    );
    h.call("POST", "/logs/", Some(&dat), Some(json!({"msg":"private"})))
        .await;
    h.call(
        "PATCH",
        &format!("/devices/{id}"),
        Some(&a),
        Some(json!({"nick":"adev"})),
    )
    .await;
    h.call(
        "PUT",
        "/profiles/config/meta",
        Some(&a),
        Some(json!({"g":"1"})),
    )
    .await;
    let tok = h
        .call("POST", "/devices/tokens", Some(&a), Some(json!({})))
        .await;
    let tok_id = tok.s("id");

    // an expired token of A's, and A's token with its payload changed
    let now = crate::common::now();
    let mut c: Claims = serde_json::from_value(crate::common::claims(&a)).unwrap();
    c.exp = now - 10;
    let expired = h.hub.keys.sign(&c);
    let tampered = {
        use base64::Engine;
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let parts: Vec<&str> = a.split('.').collect();
        let mut p: Value = serde_json::from_slice(&e.decode(parts[1]).unwrap()).unwrap();
        p["exp"] = json!(now + 100_000);
        format!(
            "{}.{}.{}",
            parts[0],
            e.encode(serde_json::to_vec(&p).unwrap()),
            parts[2]
        )
    };

    let before = snapshot(&h, &a_prn, &id).await;
    let bodies = |m: &str, p: &str| -> Option<Value> {
        match (m, p) {
            (_, p) if p.ends_with("/progress") => Some(json!({"status":"ERROR","progress":100})),
            (_, p) if p.ends_with("/state") || p == "/trails" => Some(json!({"#spec":SYS,"f":sha})),
            ("POST", "/trails/{id}/steps") => Some(step.clone()),
            (_, p) if p.ends_with("/objects") || p == "/objects" => {
                Some(json!({"objectname":"g","sha256sum":sha,"size":"13"}))
            }
            ("PATCH", "/devices/{id}") => Some(json!({"nick":"stolen"})),
            ("PUT", "/devices/{id}") => Some(json!({"nick":"stolen","user-meta":{"x":"1"}})),
            ("POST", "/logs/cursor") => Some(json!({"next-cursor":"x"})),
            ("POST", "/logs") => Some(json!({"msg":"injected"})),
            ("POST" | "PUT" | "PATCH", _) => Some(json!({"x":"1"})),
            _ => None,
        }
    };
    let routes = ph_server::routes::route_list();
    let open: BTreeSet<(String, String)> = OPEN
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let mut checked = 0;
    for (m, p) in routes.iter().filter(|r| !open.contains(*r)) {
        let path = p
            .replace("{id}", &id)
            .replace("{rev}", "1")
            .replace("{sha}", &sha)
            .replace("{usernick}", "alice")
            .replace("{devicenick}", "adev");
        let path = if p == "/devices/tokens/{id}" {
            format!("/devices/tokens/{tok_id}")
        } else {
            path
        };
        for (who, t) in [
            ("bob", Some(b.as_str())),
            ("bob's device", Some(dbt.as_str())),
            ("expired", Some(expired.as_str())),
            ("tampered", Some(tampered.as_str())),
            ("no token", None),
        ] {
            let r = h.call(m, &path, t, bodies(m, p)).await;
            let what = format!("{m} {path} as {who}: {} {}", r.code(), r.body);
            if matches!(who, "expired" | "tampered" | "no token") {
                assert_eq!(r.code(), 401, "{what}");
                continue;
            }
            if r.status.is_success() || r.status.is_redirection() {
                // allowed only about the caller's own things: nothing of A's shows
                let text = String::from_utf8_lossy(&r.bytes);
                assert!(!text.contains(&id), "{what}");
                assert!(!text.contains(&a_prn), "{what}");
                assert!(!text.contains("private"), "{what}");
            } else {
                assert!(r.status.is_client_error(), "{what}");
            }
        }
        checked += 1;
    }
    assert!(checked >= 50, "{checked} routes checked");
    assert_eq!(
        snapshot(&h, &a_prn, &id).await,
        before,
        "nothing of A's changed"
    );
    // and A still works
    assert_eq!(
        h.call("GET", &format!("/devices/{id}"), Some(&a), None)
            .await
            .code(),
        200
    );
    h.stop().await;
}
