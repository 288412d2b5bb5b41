//! Spec hub.md §9: the acceptance tests of a compatible hub (1-45, 47),
//! over real HTTP against a hub on SQLite.

use serde_json::{json, Value};

use crate::common::{claims, now, s, sha, TestHub};

const SYS: &str = "pantavisor-service-system@1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_1_to_7() {
    let h = TestHub::start().await;
    let (prn, tok) = h.user("user1").await;
    // 1
    let c = claims(&tok);
    assert_eq!(c["type"], "USER");
    assert_eq!(c["prn"], json!(prn));
    assert_eq!(c["nick"], "user1");
    assert!(c["exp"].as_i64().unwrap() > now());
    assert!(c["orig_iat"].as_i64().is_some());
    assert!(s(&c["scopes"])
        .split(' ')
        .any(|x| x == "prn:pantahub.com:apis:/base/all"));
    let hdr: Value = {
        use base64::Engine;
        let p = tok.split('.').next().unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(hdr["alg"], "RS256");
    // 2
    let r = h
        .call(
            "POST",
            "/auth/login",
            None,
            Some(json!({"username":"user1","password":"wrong"})),
        )
        .await;
    assert_eq!(r.code(), 401);
    let r = h
        .raw(
            reqwest::Client::new()
                .post(format!("{}/auth/login", h.url))
                .header("content-type", "application/json")
                .body(r#"{"username":"user1","password":"pw-user1"}"#),
        )
        .await;
    assert_eq!(r.code(), 403, "no User-Agent");
    // 3
    let r = h.call("GET", "/auth/auth_status", Some(&tok), None).await;
    assert_eq!(r.code(), 200);
    assert_eq!(r.body["prn"], json!(prn));
    assert_eq!(r.body["exp"], c["exp"]);
    let r = h.call("GET", "/auth/auth_status", None, None).await;
    assert_eq!(r.code(), 401);
    let w = r.header("www-authenticate");
    assert!(
        w.starts_with("JWT realm=\"pantahub services\", ph-aeps=\""),
        "{w}"
    );
    assert!(w.ends_with("/auth\"") && !w[43..].contains(' '), "{w}");
    // 4
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let r = h.call("GET", "/auth/login", Some(&tok), None).await;
    assert_eq!(r.code(), 200);
    let c2 = claims(&r.s("token"));
    assert_eq!(c2["orig_iat"], c["orig_iat"]);
    assert!(c2["exp"].as_i64() >= c["exp"].as_i64());
    let r = h
        .call("GET", "/auth/login", Some("garbage.garbage.garbage"), None)
        .await;
    assert_eq!(r.code(), 401);
    // 5
    let r = h
        .call(
            "POST",
            "/auth/accounts",
            None,
            Some(json!({"email":"new@example.com","nick":"newbie","password":"pw-newbie"})),
        )
        .await;
    assert_eq!(r.code(), 200, "{}", r.body);
    let nprn = r.s("prn");
    assert!(nprn.starts_with("prn:::accounts:/"));
    assert!(r.body.get("password").is_none_or(|p| p == ""));
    let login = json!({"username":"newbie","password":"pw-newbie"});
    assert_eq!(
        h.call("POST", "/auth/login", None, Some(login.clone()))
            .await
            .code(),
        401
    );
    let id = nprn.rsplit('/').next().unwrap();
    let acc = h.hub.store.db.account_by_id(id).await.unwrap().unwrap();
    let r = h
        .call(
            "GET",
            &format!("/auth/verify?id={id}&challenge=wrong"),
            None,
            None,
        )
        .await;
    assert_eq!(r.code(), 412);
    let r = h
        .call(
            "GET",
            &format!("/auth/verify?id={id}&challenge={}", acc.challenge),
            None,
            None,
        )
        .await;
    assert_eq!(r.code(), 200, "{}", r.body);
    assert_eq!(
        h.call("POST", "/auth/login", None, Some(login))
            .await
            .code(),
        200
    );
    // 6
    for body in [
        json!({"email":"other@example.com","nick":"newbie","password":"x"}),
        json!({"email":"new@example.com","nick":"other","password":"x"}),
        json!({"email":"two@example.com","nick":"ab","password":"x"}),
    ] {
        assert_eq!(
            h.call("POST", "/auth/accounts", None, Some(body))
                .await
                .code(),
            412
        );
    }
    // 7
    let r = h
        .call(
            "POST",
            "/auth/login",
            None,
            Some(
                json!({"username":"prn:pantahub.com:auth:/anon","password":"x",
                        "scope":"devices.readonly objects.readonly trails.readonly"}),
            ),
        )
        .await;
    assert_eq!(r.code(), 200);
    let a = claims(&r.s("token"));
    let mut sc: Vec<&str> = a["scopes"].as_str().unwrap().split(' ').collect();
    sc.sort();
    assert_eq!(
        sc,
        [
            "prn:pantahub.com:apis:/base/devices.readonly",
            "prn:pantahub.com:apis:/base/objects.readonly",
            "prn:pantahub.com:apis:/base/trails.readonly"
        ]
    );
    assert!(s(&a["prn"]).starts_with("prn:pantahub.com:auth:/anon-"));
    assert!(a["exp"].as_i64().unwrap() - now() <= 300);
    h.stop().await;
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_20_to_26() {
    let h = TestHub::start_with(|c| c.objects_quota = 100, None).await;
    let (uprn, u) = h.user("user1").await;
    let (_, dt) = h.claimed_device(&u).await;
    let hello = b"hello\n";
    let sh = sha(hello);
    // 20
    let ann = json!({"objectname":"f","sha256sum":sh,"size":"6"});
    let r = h
        .call("POST", "/objects/", Some(&u), Some(ann.clone()))
        .await;
    assert_eq!(r.code(), 200, "{}", r.body);
    assert_eq!(r.s("storage-id"), sha(format!("{uprn}/{sh}").as_bytes()));
    let (put, get) = (r.s("signed-puturl"), r.s("signed-geturl"));
    assert!(put.contains("/local-s3/") && get.contains("/local-s3/"));
    assert_eq!(r.header("pantahub-object-type"), "object");
    // 23 (second half): not uploaded yet → 200 again
    assert_eq!(
        h.call("POST", "/objects/", Some(&u), Some(ann.clone()))
            .await
            .code(),
        200
    );
    // 22: wrong bytes, short body
    let r = h.raw(h.http.put(&put).body(b"hellO\n".to_vec())).await;
    assert_eq!(r.code(), 400, "{}", r.body);
    assert_eq!(h.raw(h.http.get(&get)).await.code(), 404);
    let r = h.raw(h.http.put(&put).body(b"hell".to_vec())).await;
    assert!(!r.status.is_success());
    assert_eq!(h.raw(h.http.get(&get)).await.code(), 404);
    let blobs = h.data_dir().join("objects/blobs");
    assert_eq!(
        std::fs::read_dir(&blobs).unwrap().count(),
        0,
        "no partial file left"
    );
    // 24: GET URL for PUT, tampered token
    assert_eq!(
        h.raw(h.http.put(&get).body(hello.to_vec())).await.code(),
        403
    );
    let mut bad = put.clone();
    let last = bad.pop().unwrap();
    bad.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(
        h.raw(h.http.put(&bad).body(hello.to_vec())).await.code(),
        403
    );
    assert!(!put.contains('?'));
    // 21: JSON content type and HTTP/1.0 accepted
    let r = h
        .raw(
            h.http
                .put(&put)
                .version(reqwest::Version::HTTP_10)
                .header("content-type", "application/json")
                .body(hello.to_vec()),
        )
        .await;
    assert_eq!(r.code(), 200, "{}", r.body);
    let r = h.raw(reqwest::Client::new().get(&get)).await;
    assert_eq!(r.code(), 200);
    assert_eq!(r.bytes, hello);
    // HEAD and Range (§10 Q10)
    let r = h.raw(h.http.head(&get)).await;
    assert_eq!(r.code(), 200);
    assert_eq!(r.header("content-length"), "6");
    let r = h.raw(h.http.get(&get).header("range", "bytes=1-3")).await;
    assert_eq!(r.code(), 206);
    assert_eq!(r.bytes, b"ell");
    assert_eq!(r.header("content-range"), "bytes 1-3/6");
    // 23
    let r = h
        .call("POST", "/objects/", Some(&u), Some(ann.clone()))
        .await;
    assert_eq!(r.code(), 409);
    assert!(r.s("signed-geturl").contains("/local-s3/"));
    // 25
    let r = h
        .call("GET", &format!("/objects/{sh}"), Some(&dt), None)
        .await;
    assert_eq!(r.code(), 200, "{}", r.body);
    assert_eq!(r.s("sha256sum"), sh);
    assert_eq!(r.s("size"), "6");
    assert_eq!(h.raw(h.http.get(r.s("signed-geturl"))).await.bytes, hello);
    let unknown = sha(b"nope");
    assert_eq!(
        h.call("GET", &format!("/objects/{unknown}"), Some(&dt), None)
            .await
            .code(),
        404
    );
    assert_eq!(
        h.call("GET", "/objects/xyz", Some(&dt), None).await.code(),
        400
    );
    // 26: quota of 100 bytes: 6 used, 95 more is too much
    let big = json!({"objectname":"g","sha256sum":sha(b"big"),"size":"95"});
    let r = h.call("POST", "/objects/", Some(&u), Some(big)).await;
    assert!(!r.status.is_success());
    assert!(h
        .hub
        .store
        .db
        .object(&uprn, &sha(b"big"))
        .await
        .unwrap()
        .is_none());
    let ok = json!({"objectname":"g","sha256sum":sha(b"small"),"size":"94"});
    assert_eq!(
        h.call("POST", "/objects/", Some(&u), Some(ok)).await.code(),
        200
    );
    h.stop().await;
}

const POLL: &str = "/steps?progress.status=%7B%22$in%22:%5B%22NEW%22,%22DOWNLOADING%22,%22INPROGRESS%22,%22TESTING%22,%22QUEUED%22%5D%7D";

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
    let revs = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s["rev"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        revs(
            &h.call("GET", &format!("{t}/steps"), Some(&dt), None)
                .await
                .body
        ),
        [1]
    );
    assert_eq!(
        revs(
            &h.call("GET", &format!("{t}{POLL}"), Some(&dt), None)
                .await
                .body
        ),
        [1]
    );
    assert_eq!(
        revs(
            &h.call("GET", &format!("{t}/steps"), Some(&u), None)
                .await
                .body
        ),
        [1]
    );
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
    assert_eq!(
        revs(
            &h.call("GET", &format!("{t}{POLL}"), Some(&dt), None)
                .await
                .body
        ),
        [1]
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_47() {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cp, kp) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cp, ck.cert.pem()).unwrap();
    std::fs::write(&kp, ck.key_pair.serialize_pem()).unwrap();
    let tls = ph_server::tls_config(&cp, &kp).unwrap();
    let ca = reqwest::Certificate::from_pem(ck.cert.pem().as_bytes()).unwrap();
    let h = TestHub::start_with(|_| {}, Some((tls, ca))).await;
    assert!(h.url.starts_with("https://"));
    let (_, u) = h.user("user1").await;
    let sh = h.upload(&u, "f", b"over tls").await;
    let r = h
        .call("GET", &format!("/objects/{sh}"), Some(&u), None)
        .await;
    assert!(r.s("signed-geturl").starts_with("https://"));
    assert!(r.s("signed-puturl").starts_with("https://"));
    assert_eq!(
        h.raw(h.http.get(r.s("signed-geturl"))).await.bytes,
        b"over tls"
    );
    h.stop().await;
}
