//! Object uploads and downloads over the real socket.

mod common;

use common::{get, req, sha};
use pv_ctrl::testing::{pid_resolver, FakeDevice};
use pv_ctrl::{Caller, CtrlRequest};

fn entries(d: &FakeDevice) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d.objects_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn put_list_get() {
    let d = FakeDevice::start(pid_resolver(vec![], Caller::Host));
    let s = d.socket();
    let small = b"hello\n".to_vec();
    let big: Vec<u8> = (0..2 * 1024 * 1024u32)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    for data in [&small, &big] {
        let r = req(&s, "PUT", &format!("/objects/{}", sha(data)), data);
        assert_eq!((r.status, r.text().as_str()), (200, ""));
    }
    assert_eq!(entries(&d).len(), 2);
    let list = get(&s, "/objects").text();
    assert!(
        list.contains(&format!(r#"{{"sha256":"{}","size":"6"}}"#, sha(&small))),
        "{list}"
    );
    assert!(
        list.contains(&format!(r#""size":"{}""#, big.len())),
        "{list}"
    );

    let r = get(&s, &format!("/objects/{}", sha(&big)));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(
        r.header("content-length"),
        Some(big.len().to_string().as_str())
    );
    assert!(r.body == big);

    // the same object again: 200, nothing new, not even sent to the owner
    let before = d.state().log.len();
    let r = req(&s, "PUT", &format!("/objects/{}", sha(&small)), &small);
    assert_eq!(r.status, 200);
    assert_eq!(entries(&d).len(), 2);
    assert_eq!(d.state().log.len(), before);
    assert_eq!(
        d.state()
            .log
            .iter()
            .filter(|(_, r)| matches!(r, CtrlRequest::PutObject { .. }))
            .count(),
        2
    );
}

#[test]
fn bad_content_and_bad_names() {
    let d = FakeDevice::start(pid_resolver(vec![], Caller::Host));
    let s = d.socket();
    let r = req(&s, "PUT", &format!("/objects/{}", sha(b"right")), b"wrong");
    assert_eq!(
        (r.status, r.text().as_str()),
        (422, r#"{"Error":"Object has bad checksum"}"#)
    );
    assert!(entries(&d).is_empty(), "{:?}", entries(&d));
    let r = req(&s, "PUT", &format!("/objects/{}", "Z".repeat(64)), b"data");
    assert_eq!(r.status, 422);
    assert!(entries(&d).is_empty());
    let r = req(&s, "PUT", "/objects/abc", b"data");
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, r#"{"Error":"Request has bad object name"}"#)
    );
    let r = get(&s, &format!("/objects/{}", sha(b"absent")));
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, r#"{"Error":"Request has bad object name"}"#)
    );
    assert_eq!(get(&s, "/objects/short").status, 400);
}

#[test]
fn a_corrupt_pool_copy_is_replaced() {
    let d = FakeDevice::start(pid_resolver(vec![], Caller::Host));
    let data = b"precious";
    std::fs::write(d.objects_dir().join(sha(data)), b"rotten").unwrap();
    let r = req(&d.socket(), "PUT", &format!("/objects/{}", sha(data)), data);
    assert_eq!(r.status, 200);
    assert_eq!(
        std::fs::read(d.objects_dir().join(sha(data))).unwrap(),
        data
    );
    assert_eq!(entries(&d), vec![sha(data)]);
}
