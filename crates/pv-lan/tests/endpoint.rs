//! The LAN endpoint over real TCP, in front of the real control server
//! (`pv_ctrl::testing::FakeDevice` owns the state instead of the runtime,
//! so these run without root): refusals without the token change nothing,
//! 409 answers carry signed URLs, uploads are limited, and the step object
//! is served at `step-get-url`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use pv_ctrl::testing::{pid_resolver, FakeDevice};
use pv_ctrl::{Caller, CommandOp};
use pv_lan::{LanConfig, LanServer, Limits, Token};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const TOKEN: &str = "lan-endpoint-test-token-0123";

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn head(method: &str, url: &str, auth: Option<&str>, len: usize) -> (SocketAddr, String) {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut h = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len}\r\nConnection: close\r\n"
    );
    if let Some(a) = auth {
        h.push_str(&format!("Authorization: {a}\r\n"));
    }
    h.push_str("\r\n");
    (host.parse().unwrap(), h)
}

fn read_answer(mut s: TcpStream) -> Answer {
    let mut raw = vec![];
    s.read_to_end(&mut raw).unwrap();
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let mut a = parse_head(&raw[..end]);
    a.body = raw[end + 4..].to_vec();
    a
}

/// One HTTP/1.1 request; `auth` is the whole Authorization value.
fn http(method: &str, url: &str, auth: Option<&str>, body: &[u8]) -> Answer {
    let (addr, h) = head(method, url, auth, body.len());
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(h.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    read_answer(s)
}

fn bearer() -> Option<&'static str> {
    Some(concat!("Bearer ", "lan-endpoint-test-token-0123"))
}

/// Every file under `dir` with its content.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let ft = std::fs::symlink_metadata(&p).unwrap().file_type();
            let key = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            if ft.is_dir() {
                out.insert(key + "/", vec![]);
                stack.push(p);
            } else if ft.is_symlink() {
                let to = std::fs::read_link(&p).unwrap();
                out.insert(key, to.to_string_lossy().into_owned().into_bytes());
            } else {
                out.insert(key, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn start(limits: Limits) -> (FakeDevice, LanServer, String) {
    start_on("127.0.0.1:0", limits)
}

fn start_on(listen: &str, limits: Limits) -> (FakeDevice, LanServer, String) {
    let dev = FakeDevice::start(pid_resolver(vec![], Caller::Host));
    std::fs::create_dir_all(dev.objects_dir()).unwrap();
    let lan = LanServer::start(LanConfig {
        logs: None,
        listen: listen.parse().unwrap(),
        token: Some(Token::new(TOKEN).unwrap()),
        ctrl_socket: dev.socket(),
        objects: dev.objects_dir(),
        trail_id: "dev1".into(),
        limits,
        pvtx_dir: dev.dir.path().join("pvtx"),
    })
    .unwrap();
    let base = format!("http://{}/cgi-bin/pvr", lan.local_addr());
    (dev, lan, base)
}

fn sha_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Announce `data` as an object (`POST /objects/`, answered 200): its
/// sha and the answer (with the signed URLs).
fn announce(base: &str, data: &[u8]) -> (String, Value) {
    let sha = sha_hex(data);
    let a = http(
        "POST",
        &format!("{base}/objects/"),
        bearer(),
        json!({"sha256sum": sha, "size": data.len().to_string()})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    (sha, a.json())
}

fn envelope(data_sha: &str) -> Vec<u8> {
    json!({"commit-msg": "from the LAN", "rev": -1, "state": {
        "#spec": "pantavisor-service-system@1",
        "app/root.squashfs": data_sha,
    }})
    .to_string()
    .into_bytes()
}

#[test]
fn refusals_without_the_token_change_nothing() {
    let (dev, _lan, base) = start(Limits::default());
    let data = b"object bytes";
    let sha = sha_hex(data);
    let announce = json!({"sha256sum": sha, "objectname": "app/root.squashfs", "size": "12"})
        .to_string()
        .into_bytes();
    let before = snapshot(&dev.storage());
    let requests: [(&str, String, &[u8]); 6] = [
        ("POST", format!("{base}/steps"), &envelope(&sha)),
        ("POST", format!("{base}/objects/"), &announce),
        ("GET", format!("{base}/.pvrremote"), b""),
        ("GET", format!("{base}/steps/current"), b""),
        ("GET", format!("{base}/steps/0/state"), b""),
        ("GET", format!("{base}/objects/{sha}"), b""),
    ];
    let wrong = [
        None,
        Some("Bearer lan-endpoint-test-token-0124"),
        Some("Bearer "),
        Some("Basic bGFuLWVuZHBvaW50LXRlc3QtdG9rZW4tMDEyMw=="),
        Some("lan-endpoint-test-token-0123"),
    ];
    for auth in wrong {
        for (method, url, body) in &requests {
            let a = http(method, url, auth, body);
            assert_eq!(a.status, 401, "{method} {url} with {auth:?}");
            assert_eq!(a.header("content-type"), Some("application/json"));
            let msg = a.json()["Error"].as_str().unwrap_or_default().to_string();
            assert!(msg.contains("Unauthorized"), "{msg}");
            assert!(a
                .header("www-authenticate")
                .is_some_and(|h| h.contains("ph-aeps=")));
        }
    }
    // a forged upload URL is refused too
    let forged = format!("{base}/blobs/{sha}?expires=99999999999&signature=00");
    assert_eq!(http("PUT", &forged, None, data).status, 403);
    // the login with a wrong password: 401 with a JSON body
    let a = http(
        "POST",
        &format!("{base}/auth/login"),
        None,
        br#"{"username":"u","password":"not-the-token-at-all"}"#,
    );
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["Error"], "Invalid credentials");

    assert_eq!(snapshot(&dev.storage()), before, "storage unchanged");
    assert!(
        dev.state().log.is_empty(),
        "nothing reached the control socket: {:?}",
        dev.state().log
    );

    // the same calls with the token: the object is uploaded, the state
    // installed and run
    let a = http("POST", &format!("{base}/objects/"), bearer(), &announce);
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let put = a.json()["signed-puturl"].as_str().unwrap().to_string();
    assert_eq!(http("PUT", &put, None, data).status, 200);
    assert_eq!(std::fs::read(dev.objects_dir().join(&sha)).unwrap(), data);
    let a = http("POST", &format!("{base}/steps"), bearer(), &envelope(&sha));
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let rev = a.json()["revlocal"].as_str().unwrap().to_string();
    assert!(dev
        .storage()
        .join("trails")
        .join(&rev)
        .join(".pvr/json")
        .exists());
    let cmd = dev.tick().expect("a LOCAL_RUN command");
    assert_eq!(
        (cmd.op, cmd.payload.as_str()),
        (CommandOp::LocalRun, rev.as_str())
    );
}

#[test]
fn a_409_carries_signed_urls_and_a_forced_upload_is_accepted() {
    let (dev, _lan, base) = start(Limits::default());
    let data = b"already on the device";
    let sha = sha_hex(data);
    std::fs::write(dev.objects_dir().join(&sha), data).unwrap();
    let announce = json!({"sha256sum": sha, "objectname": "x", "size": data.len().to_string()});
    let a = http(
        "POST",
        &format!("{base}/objects/"),
        bearer(),
        announce.to_string().as_bytes(),
    );
    assert_eq!(a.status, 409);
    assert_eq!(a.header("pantahub-object-type"), Some("object"));
    let info = a.json();
    let put = info["signed-puturl"].as_str().unwrap();
    let get = info["signed-geturl"].as_str().unwrap();
    assert!(put.contains(&format!("/blobs/{sha}?")), "{put}");
    // pvr post -f: the re-upload goes through and the object stays whole
    let a = http("PUT", put, None, data);
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(std::fs::read(dev.objects_dir().join(&sha)).unwrap(), data);
    let a = http("GET", get, None, b"");
    assert_eq!((a.status, a.body.as_slice()), (200, &data[..]));
    // the 200 of an absent object has both too
    let other = sha_hex(b"absent");
    let a = http(
        "POST",
        &format!("{base}/objects/"),
        bearer(),
        json!({"sha256sum": other, "size": "6"})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(a.status, 200);
    for k in ["signed-puturl", "signed-geturl"] {
        assert!(a.json()[k].as_str().unwrap().contains(&other), "{k}");
    }
}

#[test]
fn uploads_are_limited_in_size_and_number() {
    let (dev, _lan, base) = start(Limits {
        max_object_size: 8192,
        max_uploads: 1,
    });
    let announce = |data: &[u8]| {
        let (sha, a) = announce(&base, data);
        (sha, a["signed-puturl"].as_str().unwrap().to_string())
    };
    let big = [7u8; 8193];
    let (big_sha, put) = announce(&big);
    let a = http("PUT", &put, None, &big);
    assert_eq!(a.status, 413, "{}", String::from_utf8_lossy(&a.body));
    assert!(a.json()["Error"].as_str().unwrap().contains("limit"));
    assert!(!dev.objects_dir().join(&big_sha).exists());

    // one upload in flight (part of its body sent, which is forwarded as
    // it arrives) holds the only place
    let first = &[1u8; 4096];
    let (first_sha, put1) = announce(first);
    let second = b"the second object";
    let (second_sha, put2) = announce(second);
    let (addr, h) = head("PUT", &put1, None, first.len());
    let open_slow = || {
        let mut slow = TcpStream::connect(addr).unwrap();
        slow.write_all(h.as_bytes()).unwrap();
        slow.write_all(&first[..100]).unwrap();
        slow.flush().unwrap();
        slow
    };
    let mut slow = open_slow();
    // wait until the endpoint has taken it (its body is being forwarded);
    // up to ~10 s: under load the endpoint may take a while to accept it.
    // A probe served at the same instant may take the place first and the
    // slow upload be refused (it then has an answer waiting): start it again.
    let mut refused = None;
    for _ in 0..500 {
        let a = http("PUT", &put2, None, second);
        if a.status == 503 {
            refused = Some(a);
            break;
        }
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
        std::fs::remove_file(dev.objects_dir().join(&second_sha)).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        slow.set_nonblocking(true).unwrap();
        let answered = !matches!(slow.peek(&mut [0u8; 1]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
        slow.set_nonblocking(false).unwrap();
        if answered {
            slow = open_slow();
        }
    }
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let refused = refused.expect("a second upload at once is refused");
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert!(refused.json()["Error"]
        .as_str()
        .unwrap()
        .contains("at most 1"));
    assert!(!dev.objects_dir().join(&second_sha).exists());
    // other calls are served meanwhile
    let a = http("GET", &format!("{base}/.pvrremote"), bearer(), b"");
    assert_eq!(a.status, 200);
    slow.write_all(&first[100..]).unwrap();
    assert_eq!(read_answer(slow).status, 200);
    assert!(dev.objects_dir().join(&first_sha).exists());
    // the place is free again
    assert_eq!(http("PUT", &put2, None, second).status, 200);
}

#[test]
fn step_get_url_serves_the_step_object() {
    let (dev, _lan, base) = start(Limits::default());
    let remote = http("GET", &format!("{base}/.pvrremote"), bearer(), b"").json();
    let step_url = remote["step-get-url"].as_str().unwrap();
    let a = http("GET", step_url, bearer(), b"");
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let step = a.json();
    let state = std::fs::read(dev.storage().join("trails/0/.pvr/json")).unwrap();
    assert_eq!(step["rev"], 0);
    assert_eq!(step["id"], "dev1-0");
    assert_eq!(step["trail-id"], "dev1");
    assert_eq!(
        step["state"],
        serde_json::from_slice::<Value>(&state).unwrap()
    );
    let canonical = pv_json::to_canonical(&pv_json::parse(&state).unwrap());
    assert_eq!(step["state-sha"], sha_hex(&canonical));
    assert_eq!(step["progress"]["status"], "DONE");
    for k in ["commit-msg", "step-time", "progress-time", "time-created"] {
        assert!(step[k].is_string(), "{k}: {step}");
    }

    // a posted local revision: its own step object, commit message included
    let data = b"x";
    let sha = sha_hex(data);
    std::fs::write(dev.objects_dir().join(&sha), data).unwrap();
    let post = http("POST", &format!("{base}/steps"), bearer(), &envelope(&sha)).json();
    let rev = post["revlocal"].as_str().unwrap();
    let a = http("GET", &format!("{base}/steps/{rev}"), bearer(), b"");
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let step = a.json();
    assert_eq!(
        (step["rev"].clone(), step["revlocal"].as_str()),
        (json!(-1), Some(rev))
    );
    assert_eq!(step["commit-msg"], "from the LAN");
    assert_eq!(step["state-sha"], post["state-sha"]);
    assert_eq!(step["progress"]["status"], "NEW");
    let a = http("GET", &format!("{base}/steps/7"), bearer(), b"");
    assert_eq!(a.status, 404, "{}", String::from_utf8_lossy(&a.body));
}

/// One answer from a connection that stays open: the head, then exactly
/// `Content-Length` bytes.
fn read_one(s: &mut TcpStream) -> Answer {
    let mut raw = vec![];
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        raw.push(byte[0]);
    }
    let mut a = parse_head(&raw);
    let len: usize = a
        .header("content-length")
        .expect("a Content-Length")
        .parse()
        .unwrap();
    a.body = vec![0u8; len];
    s.read_exact(&mut a.body).unwrap();
    a
}

fn parse_head(head: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(head).to_string();
    let mut lines = text.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: vec![],
    }
}

#[test]
fn bodies_stream_both_ways_and_a_refused_body_is_read_past() {
    let (dev, _lan, base) = start(Limits {
        max_object_size: 1 << 20,
        max_uploads: 1,
    });
    // an object of many chunks goes up and comes back whole
    let data: Vec<u8> = (0..600 * 1024u32).map(|i| (i % 251) as u8).collect();
    let (sha, a) = announce(&base, &data);
    let put = a["signed-puturl"].as_str().unwrap().to_string();
    let get = a["signed-geturl"].as_str().unwrap().to_string();
    let a = http("PUT", &put, None, &data);
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(std::fs::read(dev.objects_dir().join(&sha)).unwrap(), data);
    let a = http("GET", &get, None, b"");
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-length"), Some("614400"));
    assert_eq!(a.header("content-type"), Some("application/octet-stream"));
    assert!(a.body == data, "the object comes back whole");

    // a body over the limit is answered 413 and read past: the same
    // connection then serves the next request
    let big = vec![9u8; (1 << 20) + 1];
    let (big_sha, a) = announce(&base, &big);
    let big_put = a["signed-puturl"].as_str().unwrap().to_string();
    let (addr, h) = head("PUT", &big_put, None, big.len());
    let h = h.replace("Connection: close\r\n", "");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(h.as_bytes()).unwrap();
    s.write_all(&big).unwrap();
    let a = read_one(&mut s);
    assert_eq!(a.status, 413, "{}", String::from_utf8_lossy(&a.body));
    assert!(!dev.objects_dir().join(&big_sha).exists());
    let path = base.strip_prefix(&format!("http://{addr}")).unwrap();
    let next = format!(
        "GET {path}/.pvrremote HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {}\r\n\r\n",
        bearer().unwrap()
    );
    s.write_all(next.as_bytes()).unwrap();
    let a = read_one(&mut s);
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json()["pvr-spec"], "pvr-pantahub-1");
}

#[test]
fn dropping_the_server_closes_its_connections_and_releases_its_port() {
    // an address of the loopback network no other test uses: no socket of
    // theirs can take the port once it is free
    let (dev, lan, base) = start_on("127.41.7.3:0", Limits::default());
    let addr = lan.local_addr();
    // an upload stopped in the middle of its body, and an idle connection
    let data = [5u8; 4096];
    let (sha, a) = announce(&base, &data);
    let put = a["signed-puturl"].as_str().unwrap().to_string();
    let (_, h) = head("PUT", &put, None, data.len());
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(h.as_bytes()).unwrap();
    slow.write_all(&data[..100]).unwrap();
    let mut idle = TcpStream::connect(addr).unwrap();
    drop(lan);
    for (name, s) in [("upload", &mut slow), ("idle", &mut idle)] {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut rest = vec![];
        match s.read_to_end(&mut rest) {
            Ok(_) => assert!(
                rest.is_empty() || rest.starts_with(b"HTTP/1.1 5"),
                "{name}: {}",
                String::from_utf8_lossy(&rest)
            ),
            Err(e) => assert_ne!(
                e.kind(),
                std::io::ErrorKind::WouldBlock,
                "{name} still open"
            ),
        }
    }
    assert!(TcpStream::connect(addr).is_err(), "nothing listens");
    std::net::TcpListener::bind(addr).expect("the port is free again");
    assert!(!dev.objects_dir().join(&sha).exists());
}
