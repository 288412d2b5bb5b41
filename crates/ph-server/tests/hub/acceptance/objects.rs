//! §9 tests 20-26: announce, signed blob URLs, quota.

use serde_json::json;

use crate::common::{sha, TestHub};

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
