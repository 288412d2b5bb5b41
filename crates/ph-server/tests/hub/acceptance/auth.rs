//! §9 tests 1-7: logins, refresh, discovery, accounts.

use serde_json::{json, Value};

use crate::common::{claims, now, s, TestHub};

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
