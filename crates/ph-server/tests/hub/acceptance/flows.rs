//! §9 tests 43-44: the device and pvr flows end to end.

use serde_json::{json, Value};

use crate::common::{s, sha, TestHub};

use super::{POLL, SYS};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_and_pvr_flows_43_44() {
    let h = TestHub::start().await;
    let (uprn, u) = h.user("user1").await;
    // 43: register, claim, re-login
    let d = h.register().await;
    let id = s(&d["id"]);
    let dt0 = h.device_login(&d).await;
    assert_eq!(
        h.call("GET", &format!("/devices/{id}"), Some(&dt0), None)
            .await
            .body["owner"],
        ""
    );
    h.call(
        "PUT",
        &format!("/devices/{id}?challenge={}", s(&d["challenge"])),
        Some(&u),
        None,
    )
    .await;
    assert_eq!(
        h.call("GET", &format!("/devices/{id}"), Some(&dt0), None)
            .await
            .s("owner"),
        uprn
    );
    let dt = h.device_login(&d).await;
    // sync: objects through the /local-s3 path on the API host, then the trail
    assert_eq!(
        h.call("GET", "/trails/", Some(&dt), None).await.body,
        json!([])
    );
    let kernel = vec![7u8; 100_000];
    let ks = sha(&kernel);
    let r = h
        .call("POST", "/objects/", Some(&dt), Some(json!({"objectname":"bsp/kernel.img","size":kernel.len().to_string(),"sha256sum":ks})))
        .await;
    assert_eq!(r.code(), 200, "{}", r.body);
    let put = r.s("signed-puturl");
    let path = &put[put.find("/local-s3").unwrap()..];
    let r = h
        .raw(
            h.http
                .put(format!("{}{path}", h.url))
                .version(reqwest::Version::HTTP_10)
                .body(kernel.clone()),
        )
        .await;
    assert_eq!(r.code(), 200);
    let factory = json!({"#spec":SYS,"bsp/kernel.img":ks});
    assert_eq!(
        h.call("POST", "/trails/", Some(&dt), Some(factory.clone()))
            .await
            .code(),
        200
    );
    // 44: pvr-style, discovering the login through the 401
    let remote = format!("{}/trails/{id}/.pvrremote", h.url);
    let r = h.call("GET", &remote, None, None).await;
    assert_eq!(r.code(), 401);
    let w = r.header("www-authenticate").to_string();
    let aeps = w
        .split("ph-aeps=\"")
        .nth(1)
        .unwrap()
        .trim_end_matches('"')
        .to_string();
    let r = h
        .call(
            "POST",
            &format!("{aeps}/login"),
            None,
            Some(json!({"username":"user1","password":"pw-user1"})),
        )
        .await;
    let pt = r.s("token");
    let rem = h.call("GET", &remote, Some(&pt), None).await;
    assert_eq!(rem.code(), 200);
    let app = b"application squashfs".to_vec();
    let asha = sha(&app);
    let ep = rem.s("objects-endpoint");
    for (name, data, sh) in [
        ("bsp/kernel.img", &kernel, &ks),
        ("app/root.squashfs", &app, &asha),
    ] {
        let r = h
            .call("POST", &format!("{ep}/"), Some(&pt), Some(json!({"size":data.len().to_string(),"mime-type":"application/octet-stream","sha256sum":sh,"objectname":name})))
            .await;
        assert!(r.code() == 200 || r.code() == 409, "{}", r.body);
        if r.code() == 200 {
            assert_eq!(
                h.raw(h.http.put(r.s("signed-puturl")).body(data.clone()))
                    .await
                    .code(),
                200
            );
        }
    }
    let mut state = factory.as_object().unwrap().clone();
    state.insert("app/root.squashfs".into(), json!(asha));
    let state = Value::Object(state);
    let body = pv_json::to_canonical(&json!({"commit-msg":"add app","rev":-1,"state":state}));
    let r = h
        .raw(h.http.post(rem.s("post-url")).bearer_auth(&pt).body(body))
        .await;
    assert_eq!(r.code(), 200, "{}", r.body);
    assert_eq!(r.body["rev"], 1);
    assert_eq!(r.s("trail-id"), id);
    assert_eq!(r.s("state-sha").len(), 64);
    // device: poll, download with only the path, progress to DONE
    let r = h
        .call("GET", &format!("/trails/{id}{POLL}"), Some(&dt), None)
        .await;
    assert_eq!(r.body[0]["rev"], 1);
    let st = r.body[0]["state"].clone();
    for (_, v) in st
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "#spec")
    {
        let o = h
            .call("GET", &format!("/objects/{}", s(v)), Some(&dt), None)
            .await;
        assert_eq!(o.code(), 200, "{}", o.body);
        let g = o.s("signed-geturl");
        let path = &g[g.find("/local-s3").unwrap()..];
        let b = h.raw(h.http.get(format!("{}{path}", h.url))).await;
        assert_eq!(sha(&b.bytes), s(v));
    }
    for st in ["QUEUED", "DOWNLOADING", "INPROGRESS", "TESTING", "DONE"] {
        let r = h
            .call(
                "PUT",
                &format!("/trails/{id}/steps/1/progress"),
                Some(&dt),
                Some(json!({"status":st})),
            )
            .await;
        assert_eq!(r.code(), 200);
    }
    assert_eq!(
        h.call("GET", &format!("/trails/{id}{POLL}"), Some(&dt), None)
            .await
            .body,
        json!([])
    );
    // clone equivalent: json-get-url + objects-endpoint/<sha> give byte-identical objects
    let rem = h.call("GET", &remote, Some(&pt), None).await;
    let st = h
        .call("GET", &rem.s("json-get-url"), Some(&pt), None)
        .await
        .body;
    assert_eq!(st, state);
    for (sh, data) in [(&ks, &kernel), (&asha, &app)] {
        let o = h
            .call(
                "GET",
                &format!("{}/{sh}", rem.s("objects-endpoint")),
                Some(&pt),
                None,
            )
            .await;
        assert_eq!(&h.raw(h.http.get(o.s("signed-geturl"))).await.bytes, data);
    }
    h.stop().await;
}
