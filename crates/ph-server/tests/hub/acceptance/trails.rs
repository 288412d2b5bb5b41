//! §9 tests 27-40: trails, steps, progress, the poll query.

use serde_json::json;

use crate::common::{s, sha, TestHub};

use super::{POLL, SYS};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trails_27_to_40() {
    let h = TestHub::start().await;
    let (_, u) = h.user("user1").await;
    let (_, u2) = h.user("user2").await;
    let (d, dt) = h.claimed_device(&u).await;
    let id = s(&d["id"]);
    let t = format!("/trails/{id}");
    // 28 (before)
    assert_eq!(
        h.call("GET", "/trails/", Some(&dt), None).await.body,
        json!([])
    );
    assert_eq!(
        h.call("POST", "/trails/", Some(&u), Some(json!({"#spec":SYS})))
            .await
            .code(),
        403
    );
    // 29
    let never = sha(b"never uploaded");
    for bad in [
        json!({"#spec":SYS,"x":never}),
        json!({"a":"b"}),
        json!({"#spec":"foo@1"}),
        json!({"#spec":SYS,"x":5}),
    ] {
        let r = h
            .call("POST", "/trails/", Some(&dt), Some(bad.clone()))
            .await;
        assert!(r.status.is_client_error(), "{bad}: {}", r.code());
        assert!(r.body["error"].is_string());
    }
    // 27
    let r = h
        .call("POST", "/trails/", Some(&dt), Some(json!({"#spec":SYS})))
        .await;
    assert_eq!(r.code(), 200, "{}", r.body);
    assert_eq!(r.s("id"), id);
    let r = h
        .call("GET", &format!("{t}/steps/0"), Some(&dt), None)
        .await;
    assert_eq!(r.body["rev"], 0);
    assert_eq!(r.body["progress"]["status"], "DONE");
    assert_eq!(r.s("commit-msg"), "Factory State (rev 0)");
    assert_eq!(
        r.s("state-sha"),
        "fd138f7751b12a533d8b0e60c32bfae17be25a4206166973135cd7fa1d8b3760"
    );
    assert!(!h
        .call("POST", "/trails/", Some(&dt), Some(json!({"#spec":SYS})))
        .await
        .status
        .is_success());
    // 28 (after)
    assert_eq!(
        h.call("GET", "/trails/", Some(&dt), None)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // 30
    let f = h.upload(&u, "f", b"hello\n").await;
    let state1 = json!({"#spec":SYS,"f":f,"a.json":{"x":1.50,"y":[true,null,"s"]}});
    let r = h
        .call(
            "POST",
            &format!("{t}/steps"),
            Some(&u),
            Some(json!({"rev":-1,"commit-msg":"m","state":state1})),
        )
        .await;
    assert_eq!(r.code(), 200, "{}", r.body);
    assert_eq!(r.body["rev"], 1);
    assert_eq!(r.body["progress"]["status"], "NEW");
    assert_eq!(r.s("id"), format!("{id}-1"));
    assert_eq!(r.s("state-sha"), sha(&pv_json::to_canonical(&state1)));
    assert_eq!(r.header("phjsonformat"), "gibson042-canonicaljson");
    // 31
    let post = |rev: i64| json!({"rev":rev,"commit-msg":"m","state":{"#spec":SYS}});
    assert!(!h
        .call("POST", &format!("{t}/steps"), Some(&u), Some(post(1)))
        .await
        .status
        .is_success());
    assert!(!h
        .call("POST", &format!("{t}/steps"), Some(&u), Some(post(5)))
        .await
        .status
        .is_success());
    assert_eq!(
        h.call("POST", &format!("{t}/steps"), Some(&u2), Some(post(-1)))
            .await
            .code(),
        403
    );
    // 32
    assert_eq!(revs(&h, &format!("{t}/steps"), &dt).await, [1]);
    assert_eq!(revs(&h, &format!("{t}{POLL}"), &dt).await, [1]);
    assert_eq!(revs(&h, &format!("{t}/steps"), &u).await, [1]);
    // 33 (open progress object, §10 Q3)
    let p = json!({"status":"DOWNLOADING","progress":25,"status-msg":"x","retries":2,"logs":"l",
                   "downloads":{"total":{"object_name":"total","total_size":6,"total_downloaded":3}}});
    let r = h
        .call("PUT", &format!("{t}/steps/1/progress"), Some(&dt), Some(p))
        .await;
    assert_eq!(r.code(), 200, "{}", r.body);
    assert_eq!(r.body["retries"], 2);
    let r = h.call("GET", &format!("{t}/steps/1"), Some(&u), None).await;
    assert_eq!(r.body["progress"]["status"], "DOWNLOADING");
    assert_eq!(r.body["progress"]["logs"], "l");
    assert_eq!(revs(&h, &format!("{t}{POLL}"), &dt).await, [1]);
    let r = h
        .call("GET", &format!("{t}/steps/1/progress"), Some(&dt), None)
        .await;
    assert_eq!(r.body["progress"], 25);
    // 35 (while the step exists)
    let r = h
        .call("GET", &format!("{t}/steps/1/objects"), Some(&dt), None)
        .await;
    assert_eq!(r.code(), 200, "{}", r.body);
    let objs = r.body.as_array().unwrap();
    assert_eq!(objs.len(), 1);
    assert_eq!(objs[0]["objectname"], "f");
    assert_eq!(objs[0]["id"], json!(f));
    assert_eq!(objs[0]["signed-puturl"], "");
    assert_eq!(
        h.raw(h.http.get(s(&objs[0]["signed-geturl"]))).await.bytes,
        b"hello\n"
    );
    let r = h
        .call(
            "GET",
            &format!("{t}/steps/1/objects/{f}/blob"),
            Some(&dt),
            None,
        )
        .await;
    assert_eq!(r.code(), 302);
    assert!(r.header("location").contains("/local-s3/"));
    // 36
    let r = h
        .call("GET", &format!("{t}/steps/1/state"), Some(&u), None)
        .await;
    assert!(pv_json::values_equal(&r.body, &state1), "{}", r.body);
    assert_eq!(r.header("phjsonformat"), "gibson042-canonicaljson");
    assert_eq!(r.bytes, pv_json::to_canonical(&state1));
    // 33 end
    let r = h
        .call(
            "PUT",
            &format!("{t}/steps/1/progress"),
            Some(&dt),
            Some(json!({"status":"DONE","progress":100})),
        )
        .await;
    assert_eq!(r.code(), 200);
    assert_eq!(
        h.call("GET", &format!("{t}{POLL}"), Some(&dt), None)
            .await
            .body,
        json!([])
    );
    // 34
    assert_eq!(
        h.call(
            "PUT",
            &format!("{t}/steps/1/progress"),
            Some(&u),
            Some(json!({"status":"X"}))
        )
        .await
        .code(),
        403
    );
    assert!(h
        .call(
            "PUT",
            &format!("{t}/steps/9/progress"),
            Some(&dt),
            Some(json!({"status":"X"}))
        )
        .await
        .status
        .is_client_error());
    // 37
    let r = h
        .call("POST", &format!("{t}/steps"), Some(&u), Some(post(-1)))
        .await;
    assert_eq!(r.body["rev"], 2);
    let old_sha = r.s("state-sha");
    let state2 = json!({"#spec":SYS,"g.json":{"v":2}});
    let r = h
        .call(
            "PUT",
            &format!("{t}/steps/2/state"),
            Some(&u),
            Some(state2.clone()),
        )
        .await;
    assert_eq!(r.code(), 200, "{}", r.body);
    let r = h.call("GET", &format!("{t}/steps/2"), Some(&u), None).await;
    assert_eq!(r.body["state"], state2);
    assert_ne!(r.s("state-sha"), old_sha);
    h.call(
        "PUT",
        &format!("{t}/steps/2/progress"),
        Some(&dt),
        Some(json!({"status":"QUEUED"})),
    )
    .await;
    assert!(!h
        .call(
            "PUT",
            &format!("{t}/steps/2/state"),
            Some(&u),
            Some(json!({"#spec":SYS}))
        )
        .await
        .status
        .is_success());
    // 38
    let r = h
        .call("POST", &format!("{t}/steps"), Some(&u), Some(post(-1)))
        .await;
    assert_eq!(r.body["rev"], 3);
    let r = h
        .call("PUT", &format!("{t}/steps/3/cancel"), Some(&u), None)
        .await;
    assert_eq!(r.code(), 200, "{}", r.body);
    assert_eq!(r.body["progress"]["status"], "CANCEL");
    assert_eq!(
        h.call("PUT", &format!("{t}/steps/1/cancel"), Some(&u), None)
            .await
            .code(),
        400
    );
    assert_eq!(
        h.call("PUT", &format!("{t}/steps/2/wontgo"), Some(&u), None)
            .await
            .code(),
        400
    );
    h.call(
        "PUT",
        &format!("{t}/steps/2/progress"),
        Some(&dt),
        Some(json!({"status":"INPROGRESS"})),
    )
    .await;
    let r = h
        .call("PUT", &format!("{t}/steps/2/wontgo"), Some(&u), None)
        .await;
    assert_eq!(r.body["progress"]["status"], "WONTGO");
    // 39
    let meta = json!({"k":{"nested":[1,2,{"z":null}]},"b":true});
    let r = h
        .call(
            "PUT",
            &format!("{t}/steps/1/meta"),
            Some(&u),
            Some(meta.clone()),
        )
        .await;
    assert_eq!(r.body, meta);
    assert_eq!(
        h.call("GET", &format!("{t}/steps/1/meta"), Some(&u), None)
            .await
            .body,
        meta
    );
    assert_eq!(
        h.call("PUT", &format!("{t}/steps/1/meta"), Some(&dt), Some(meta))
            .await
            .code(),
        403
    );
    // 40
    let r = h
        .call("GET", &format!("{t}/.pvrremote"), Some(&u), None)
        .await;
    assert_eq!(r.s("pvr-spec"), "pvr-pantahub-1");
    assert_eq!(r.s("json-key"), "state");
    for k in [
        "json-get-url",
        "objects-endpoint",
        "post-url",
        "step-get-url",
    ] {
        assert!(r.s(k).starts_with(&h.url), "{k}");
    }
    assert!(r.s("json-get-url").ends_with("/steps/3/state"));
    assert_eq!(
        h.call("GET", &r.s("json-get-url"), Some(&u), None)
            .await
            .code(),
        200
    );
    assert_eq!(
        h.call("GET", &r.s("step-get-url"), Some(&u), None)
            .await
            .body["rev"],
        3
    );
    assert_eq!(
        h.call("GET", &r.s("objects-endpoint"), Some(&u), None)
            .await
            .code(),
        200
    );
    assert_eq!(
        h.call("GET", &r.s("post-url"), Some(&u), None).await.code(),
        200
    );
    // summaries (§10 Q14)
    let r = h.call("GET", "/trails/summary", Some(&u), None).await;
    assert_eq!(r.body[0]["revision"], 3);
    h.stop().await;
}

/// The revisions of the steps a GET of `path` lists.
async fn revs(h: &TestHub, path: &str, token: &str) -> Vec<i64> {
    let r = h.call("GET", path, Some(token), None).await;
    r.body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["rev"].as_i64().unwrap())
        .collect()
}
