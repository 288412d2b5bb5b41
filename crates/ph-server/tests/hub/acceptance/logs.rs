//! §9 tests 41-42: device log batches and the user query.

use serde_json::json;

use crate::common::TestHub;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_41_42() {
    let h = TestHub::start().await;
    let (uprn, u) = h.user("user1").await;
    let (_, u2) = h.user("user2").await;
    let (d, dt) = h.claimed_device(&u).await;
    // 41
    let r = h
        .call(
            "POST",
            "/logs/",
            Some(&dt),
            Some(json!({"tsec":1,"tnano":2,"src":"a","msg":"one"})),
        )
        .await;
    assert_eq!(r.body, json!({"status":"ok"}));
    let r = h
        .call(
            "POST",
            "/logs/",
            Some(&dt),
            Some(json!([{"tsec":2,"src":"b","msg":"two","lvl":"DEBUG"},{"tsec":3,"src":"b","msg":"three","plat":"c","rev":"1"}])),
        )
        .await;
    assert_eq!(r.body, json!({"status":"ok"}));
    let r = h.call("GET", "/logs/", Some(&u), None).await;
    assert!(r.body["count"].as_i64().unwrap() >= 3);
    for e in r.body["entries"].as_array().unwrap() {
        assert_eq!(e["dev"], d["prn"]);
        assert_eq!(e["own"], json!(uprn));
    }
    assert!(r.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["msg"] == "one" && e["lvl"] == "INFO"));
    assert_eq!(
        h.call("POST", "/logs/", Some(&u), Some(json!({"msg":"x"})))
            .await
            .code(),
        403
    );
    // 42
    let r = h
        .call("GET", "/logs/?src=a&sort=tsec&page=1", Some(&u), None)
        .await;
    assert_eq!(r.body["count"], 1);
    assert_eq!(r.body["entries"][0]["msg"], "one");
    let future = "2999-01-01T00:00:00Z";
    assert_eq!(
        h.call("GET", &format!("/logs/?after={future}"), Some(&u), None)
            .await
            .body["count"],
        0
    );
    assert_eq!(
        h.call("GET", "/logs/?after=2000-01-01T00:00:00Z", Some(&u), None)
            .await
            .body["count"],
        3
    );
    assert_eq!(
        h.call("GET", "/logs/", Some(&u2), None).await.body["count"],
        0
    );
    let r = h
        .call("GET", "/logs/?cursor=true&page=1&sort=tsec", Some(&u), None)
        .await;
    assert_eq!(r.body["entries"][0]["msg"], "one");
    let cur = r.s("next-cursor");
    assert!(!cur.is_empty());
    let r = h
        .call(
            "POST",
            "/logs/cursor",
            Some(&u),
            Some(json!({"next-cursor": cur})),
        )
        .await;
    assert_eq!(r.code(), 200, "{}", r.body);
    assert_eq!(r.body["entries"][0]["msg"], "two");
    assert_eq!(
        h.call(
            "POST",
            "/logs/cursor",
            Some(&u2),
            Some(json!({"next-cursor": cur}))
        )
        .await
        .code(),
        403
    );
    h.stop().await;
}
