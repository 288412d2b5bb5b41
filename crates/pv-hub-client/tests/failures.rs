//! The client counts the requests that did not get through (no
//! connection, a 5xx answer), over all its clones; an answer that
//! refuses the request (4xx) is not one.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use pv_hub_client::{Endpoint, Hub};

fn client(port: u16) -> Hub {
    Hub::new(&Endpoint {
        host: "http://127.0.0.1".into(),
        port,
        ca_file: None,
        proxy: None,
        user_agent: "failures-test".into(),
        timeout: Duration::from_secs(5),
    })
    .unwrap()
}

/// A server that answers every request with `status`, closing each connection.
fn answering(status: &'static str) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let _ = write!(
                c,
                "HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
            );
        }
    });
    port
}

/// The error as the runtime gets it from the agent, classified there.
fn wire(e: pv_hub_client::Error) -> pv_hub_proto::Error {
    e.into()
}

#[test]
fn refused_connections_and_5xx_are_counted_4xx_are_not() {
    let nobody = client(pv_testkit::free_port());
    let clone = nobody.clone();
    let e = wire(nobody.poll("dev").unwrap_err());
    assert!(e.is_communication_failure(), "{e}");
    let e = wire(clone.user_meta("dev").unwrap_err());
    assert!(e.is_communication_failure(), "{e}");
    assert_eq!(nobody.failures(), 2);

    let failing = client(answering("503 Service Unavailable"));
    let e = wire(failing.poll("dev").unwrap_err());
    assert!(e.is_communication_failure(), "{e}");
    assert_eq!(failing.failures(), 1);

    let refusing = client(answering("404 Not Found"));
    let e = wire(refusing.poll("dev").unwrap_err());
    assert!(!e.is_communication_failure(), "{e}");
    assert_eq!(e.status(), Some(404));
    let e = wire(refusing.user_meta("dev").unwrap_err());
    assert!(!e.is_communication_failure(), "{e}");
    assert_eq!(refusing.failures(), 0);
}
