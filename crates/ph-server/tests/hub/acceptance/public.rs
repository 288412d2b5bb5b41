//! §9 test 45: public devices and linked objects.

use serde_json::json;

use crate::common::{s, TestHub};

use super::SYS;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_links_45() {
    let h = TestHub::start().await;
    let (_, u) = h.user("user1").await;
    let (_, u2) = h.user("user2").await;
    let (u3prn, u3) = h.user("user3").await;
    let (a, at) = h.claimed_device(&u).await;
    let data = b"public bytes".to_vec();
    let sh = h.upload(&u, "p", &data).await;
    h.call(
        "POST",
        "/trails/",
        Some(&at),
        Some(json!({"#spec":SYS,"p":sh})),
    )
    .await;
    assert_eq!(
        h.call(
            "PUT",
            &format!("/devices/{}/public", s(&a["id"])),
            Some(&u),
            None
        )
        .await
        .code(),
        200
    );
    // (a)
    let r = h
        .call(
            "POST",
            "/objects/",
            Some(&u2),
            Some(json!({"objectname":"p","sha256sum":sh,"size":data.len().to_string()})),
        )
        .await;
    assert_eq!(r.code(), 409, "{}", r.body);
    assert_eq!(r.header("pantahub-object-type"), "link");
    assert_eq!(h.raw(h.http.get(r.s("signed-geturl"))).await.bytes, data);
    // (b)
    let (c, ct) = h.claimed_device(&u3).await;
    h.call("POST", "/trails/", Some(&ct), Some(json!({"#spec":SYS})))
        .await;
    let step = json!({"rev":-1,"commit-msg":"m","state":{"#spec":SYS,"p":sh}});
    let t = format!("/trails/{}/steps", s(&c["id"]));
    let r = h
        .call(
            "POST",
            &format!("{t}?autolink=no"),
            Some(&u3),
            Some(step.clone()),
        )
        .await;
    assert!(!r.status.is_success());
    assert!(h.hub.store.db.object(&u3prn, &sh).await.unwrap().is_none());
    let r = h.call("POST", &t, Some(&u3), Some(step)).await;
    assert_eq!(r.code(), 200, "{}", r.body);
    let r = h
        .call("GET", &format!("/objects/{sh}"), Some(&ct), None)
        .await;
    assert_eq!(h.raw(h.http.get(r.s("signed-geturl"))).await.bytes, data);
    h.stop().await;
}
