//! Caller identity comes from the peer pid: the resolver maps this test
//! process to a container, and the server enforces roles.

mod common;

use common::{get, req, sha};
use pv_ctrl::testing::{app, pid_resolver, FakeDevice};
use pv_ctrl::{Caller, CtrlRequest};

fn me() -> i32 {
    std::process::id() as i32
}

#[test]
fn non_mgmt_container_gets_403_except_signal() {
    let d = FakeDevice::start(pid_resolver(vec![(me(), app("A"))], Caller::Host));
    let s = d.socket();
    let r = get(&s, "/containers");
    assert_eq!(
        (r.status, r.text().as_str()),
        (403, r#"{"Error":"Request not sent from a mgmt platform"}"#)
    );
    for (m, p) in [
        ("PUT", "/containers/A"),
        ("POST", "/commands"),
        ("GET", "/user-meta"),
        ("PUT", "/device-meta/k"),
        ("GET", "/steps"),
        ("POST", "/storage/gc"),
        ("PUT", "/drivers/load"),
    ] {
        assert_eq!(req(&s, m, p, b"{}").status, 403, "{m} {p}");
    }
    // an upload is refused before anything is written
    let data = b"object from a non-mgmt container";
    let r = req(&s, "PUT", &format!("/objects/{}", sha(data)), data);
    assert_eq!(r.status, 403);
    assert_eq!(std::fs::read_dir(d.objects_dir()).unwrap().count(), 0);
    // the signal is allowed through, and the owner says it is not expected
    let r = req(&s, "POST", "/signal", br#"{"type":"ready","payload":""}"#);
    assert_eq!(
        (r.status, r.text().as_str()),
        (500, r#"{"Error":"Signal not expected from this platform"}"#)
    );
    let r = req(&s, "POST", "/signal", b"nonsense");
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, r#"{"Error":"Signal has bad format"}"#)
    );
    // unknown paths are still unknown
    assert_eq!(get(&s, "/nope").status, 400);
    // nothing but the signal reached the owner, from the right caller
    let log = d.state().log.clone();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].0, app("A"));
    assert!(matches!(log[0].1, CtrlRequest::Signal(_)));
}

#[test]
fn ready_signal_and_mgmt_container() {
    let d = FakeDevice::start(pid_resolver(vec![(me(), app("ready-app"))], Caller::Host));
    let r = req(
        &d.socket(),
        "POST",
        "/signal",
        br#"{"type":"ready","payload":""}"#,
    );
    assert_eq!((r.status, r.text().as_str()), (200, ""));
    let r = req(
        &d.socket(),
        "POST",
        "/signal",
        br#"{"type":"alive","payload":""}"#,
    );
    assert_eq!(r.status, 500);

    let mgmt = Caller::Container {
        name: "M".into(),
        mgmt: true,
    };
    let d = FakeDevice::start(pid_resolver(vec![(me(), mgmt.clone())], Caller::Unknown));
    assert_eq!(get(&d.socket(), "/containers").status, 200);
    assert_eq!(d.state().log[0].0, mgmt);
}

#[test]
fn unknown_caller_gets_500() {
    let d = FakeDevice::start(pid_resolver(vec![], Caller::Unknown));
    let r = get(&d.socket(), "/containers");
    assert_eq!(
        (r.status, r.text().as_str()),
        (500, r#"{"Error":"Internal Error"}"#)
    );
    let r = req(
        &d.socket(),
        "POST",
        "/signal",
        br#"{"type":"ready","payload":""}"#,
    );
    assert_eq!(r.status, 500);
    assert!(d.state().log.is_empty());
}
