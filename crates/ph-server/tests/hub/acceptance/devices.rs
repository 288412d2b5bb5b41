//! §9 tests 8-19: register, join tokens, claim, metadata.

use serde_json::json;

use crate::common::{claims, s, TestHub};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_8_to_19() {
    let h = TestHub::start().await;
    let (uprn, u) = h.user("user1").await;
    let (_, u2) = h.user("user2").await;
    // 8
    let d = h.register().await;
    let id = s(&d["id"]);
    assert!(id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(s(&d["prn"]), format!("prn:::devices:/{id}"));
    assert!(!s(&d["secret"]).is_empty() && !s(&d["challenge"]).is_empty());
    assert_eq!(d["owner"], "");
    assert!(s(&d["nick"]).starts_with("__unregistered__"));
    // 9
    let dt = h.device_login(&d).await;
    let c = claims(&dt);
    assert_eq!(c["type"], "DEVICE");
    assert_eq!(c["owner"], "");
    // 10
    let r = h
        .call("GET", &format!("/devices/{id}"), Some(&dt), None)
        .await;
    assert_eq!(r.code(), 200);
    assert_eq!(r.body["owner"], "");
    assert!(!r.s("challenge").is_empty());
    assert!(r.s("secret").is_empty());
    // 11
    let r = h
        .call(
            "PUT",
            &format!("/devices/{id}?challenge=wrong"),
            Some(&u),
            None,
        )
        .await;
    assert_eq!(r.code(), 403);
    let r = h
        .call(
            "PUT",
            &format!("/devices/{id}?challenge={}", s(&d["challenge"])),
            Some(&u),
            None,
        )
        .await;
    assert_eq!(r.code(), 200, "{}", r.body);
    assert_eq!(r.s("owner"), uprn);
    assert!(r.s("challenge").is_empty());
    assert!(!r.s("nick").starts_with("__unregistered__"));
    // 12
    let dt = h.device_login(&d).await;
    assert_eq!(claims(&dt)["owner"], json!(uprn));
    let r = h
        .call(
            "PUT",
            &format!("/devices/{id}?challenge={}", s(&d["challenge"])),
            Some(&u2),
            None,
        )
        .await;
    assert_eq!(r.code(), 403);
    // 13
    let r = h
        .call(
            "POST",
            "/devices/tokens",
            Some(&u),
            Some(json!({"default-user-meta":{"k":"v"}})),
        )
        .await;
    assert_eq!(r.code(), 200, "{}", r.body);
    let (jt, jid) = (r.s("token"), r.s("id"));
    let join = |t: String| {
        h.http
            .post(format!("{}/devices/", h.url))
            .header("Pantahub-Devices-Auto-Token-V1", t)
            .body("{}")
    };
    let r = h.raw(join(jt.clone())).await;
    assert_eq!(r.code(), 200, "{}", r.body);
    assert_eq!(r.s("owner"), uprn);
    assert!(r.s("challenge").is_empty());
    assert_eq!(r.body["user-meta"]["k"], "v");
    let joined = r.s("id");
    assert_eq!(
        h.call("DELETE", &format!("/devices/tokens/{jid}"), Some(&u), None)
            .await
            .code(),
        200
    );
    assert_eq!(h.raw(join(jt)).await.code(), 400);
    // 14
    let r = h.call("GET", "/devices/", Some(&u), None).await;
    let ids: Vec<String> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|d| s(&d["id"]))
        .collect();
    assert!(ids.contains(&id) && ids.contains(&joined));
    let r = h.call("GET", "/devices/", Some(&dt), None).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    assert_eq!(r.body[0]["id"], json!(id));
    let r = h.call("GET", "/devices/", Some(&u2), None).await;
    assert_eq!(r.body, json!([]));
    // 15
    let r = h
        .call(
            "PATCH",
            &format!("/devices/{id}"),
            Some(&u),
            Some(json!({"nick":"bad nick!"})),
        )
        .await;
    assert_eq!(r.code(), 400);
    let r = h
        .call(
            "PATCH",
            &format!("/devices/{id}"),
            Some(&u),
            Some(json!({"nick":"mydev"})),
        )
        .await;
    assert_eq!(r.code(), 200, "{}", r.body);
    let r = h.call("GET", "/devices/mydev", Some(&u), None).await;
    assert_eq!(r.s("id"), id);
    let r = h
        .call("GET", "/devices/np/user1/mydev", Some(&u), None)
        .await;
    assert_eq!(r.s("id"), id);
    // §10 Q2: a nick clash is 409
    let r = h
        .call(
            "PATCH",
            &format!("/devices/{joined}"),
            Some(&u),
            Some(json!({"nick":"mydev"})),
        )
        .await;
    assert_eq!(r.code(), 409);
    // 16
    assert_eq!(
        h.call("GET", &format!("/devices/{id}"), Some(&u2), None)
            .await
            .code(),
        403
    );
    h.call(
        "PUT",
        &format!("/devices/{id}/user-meta"),
        Some(&u),
        Some(json!({"secretish":"1"})),
    )
    .await;
    assert_eq!(
        h.call("PUT", &format!("/devices/{id}/public"), Some(&u), None)
            .await
            .code(),
        200
    );
    let r = h
        .call("GET", &format!("/devices/{id}"), Some(&u2), None)
        .await;
    assert_eq!(r.code(), 200);
    assert_eq!(r.body["user-meta"], json!({}));
    assert_eq!(r.body["device-meta"], json!({}));
    assert!(r.s("secret").is_empty() && r.s("challenge").is_empty());
    assert_eq!(
        h.call("PUT", &format!("/devices/{id}/public"), Some(&dt), None)
            .await
            .code(),
        403
    );
    assert_eq!(
        h.call("DELETE", &format!("/devices/{id}/public"), Some(&u), None)
            .await
            .code(),
        200
    );
    // 17
    let r = h
        .call(
            "PUT",
            &format!("/devices/{id}/user-meta"),
            Some(&u),
            Some(json!({"a":"1","x.y":"2"})),
        )
        .await;
    assert_eq!(r.body, json!({"a":"1","x.y":"2"}));
    let r = h
        .call("GET", &format!("/devices/{id}/user-meta"), Some(&dt), None)
        .await;
    assert_eq!(r.body["a"], "1");
    assert_eq!(r.body["x.y"], "2");
    // 18
    h.call(
        "PUT",
        &format!("/devices/{id}/user-meta"),
        Some(&u),
        Some(json!({"a":"1"})),
    )
    .await;
    let r = h
        .call(
            "PUT",
            "/profiles/config/meta",
            Some(&u),
            Some(json!({"g":"1","a":"0"})),
        )
        .await;
    assert_eq!(r.code(), 200);
    let r = h
        .call("GET", &format!("/devices/{id}/user-meta"), Some(&dt), None)
        .await;
    assert_eq!(r.body["g"], "1");
    assert_eq!(r.body["a"], "1");
    // 19
    let r = h
        .call(
            "PUT",
            &format!("/devices/{id}/device-meta"),
            Some(&dt),
            Some(json!({"pantavisor.revision":"0"})),
        )
        .await;
    assert_eq!(r.body, json!({"status":"ok"}));
    let r = h
        .call("GET", &format!("/devices/{id}"), Some(&u), None)
        .await;
    assert_eq!(r.body["device-meta"]["pantavisor.revision"], "0");
    let r = h
        .call(
            "PATCH",
            &format!("/devices/{id}/device-meta"),
            Some(&dt),
            Some(json!({"pantavisor.revision":null,"b":"2"})),
        )
        .await;
    assert_eq!(r.body, json!({"status":"ok"}));
    let r = h
        .call("GET", &format!("/devices/{id}"), Some(&u), None)
        .await;
    assert_eq!(r.body["device-meta"], json!({"b":"2"}));
    let r = h
        .call(
            "PUT",
            &format!("/devices/{id}/device-meta"),
            Some(&u),
            Some(json!({"x":"1"})),
        )
        .await;
    assert_eq!(r.code(), 400);
    h.stop().await;
}
