//! §9 test 47: the hub over TLS.

use crate::common::TestHub;

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
