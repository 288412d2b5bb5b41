//! An upload is one `PUT` of the file with its length as `Content-Length`
//! (a signed blob URL on the hub or an S3 store, which expect the size up
//! front), not a chunked body, and without the device's token.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use pv_hub_client::{Endpoint, Hub};

/// A request as the server saw it: its head's lines and its body.
type Seen = (Vec<String>, Vec<u8>);

/// A server taking one request; sends back what it saw.
fn one_request() -> (u16, mpsc::Receiver<Seen>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (c, _) = l.accept().unwrap();
        let mut r = BufReader::new(c);
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            let line = line.trim_end().to_string();
            if line.is_empty() {
                break;
            }
            head.push(line);
        }
        let len: usize = head
            .iter()
            .find_map(|h| {
                h.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(|v| v.parse().unwrap())
            })
            .unwrap_or(0);
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        let _ = write!(
            r.get_mut(),
            "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
        tx.send((head, body)).unwrap();
    });
    (port, rx)
}

#[test]
fn upload_is_a_sized_put_of_the_file() {
    let (port, rx) = one_request();
    let hub = Hub::new(&Endpoint {
        host: "http://127.0.0.1".into(),
        port,
        ca_file: None,
        proxy: None,
        user_agent: "upload-test".into(),
        timeout: Duration::from_secs(10),
    })
    .unwrap();
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("blob");
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&f, &data).unwrap();
    hub.upload("/local-s3/tok/blob", &f).unwrap();
    let (head, body) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(head[0], "PUT /local-s3/tok/blob HTTP/1.1");
    let lower: Vec<String> = head.iter().map(|h| h.to_ascii_lowercase()).collect();
    assert!(
        lower.contains(&"content-length: 100000".to_string()),
        "{head:?}"
    );
    assert!(
        !lower.iter().any(|h| h.starts_with("transfer-encoding")),
        "{head:?}"
    );
    assert!(
        !lower.iter().any(|h| h.starts_with("authorization")),
        "{head:?}"
    );
    assert!(
        lower.contains(&"user-agent: upload-test".to_string()),
        "{head:?}"
    );
    assert!(body == data, "the body is the file");
    assert_eq!(hub.failures(), 0);
}
