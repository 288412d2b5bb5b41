//! Every endpoint over the real socket, called by the host, answered by the
//! fake owner.

mod common;

use common::{get, parse, raw_bytes, req};
use pv_ctrl::testing::{pid_resolver, FakeDevice};
use pv_ctrl::{Caller, CommandOp, CtrlConfig, CtrlRequest, CtrlServer};

fn host_device() -> FakeDevice {
    FakeDevice::start(pid_resolver(vec![], Caller::Host))
}

#[test]
fn containers_and_groups() {
    let d = host_device();
    let r = get(&d.socket(), "/containers");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.text(),
        concat!(
            r#"[{"name":"M","group":"platform","status":"STARTED","status_goal":"STARTED","restart_policy":"system","roles":["mgmt"]},"#,
            r#"{"name":"A","group":"app","status":"STARTED","status_goal":"STARTED","restart_policy":"container","roles":[],"#,
            r#""auto_recovery":{"policy":"on-failure","max_retries":5,"current_retries":0,"stable_timeout":30,"is_stable":"false","backoff_policy":"reboot"},"user_stopped":"false"}]"#
        )
    );
    let g = get(&d.socket(), "/groups");
    assert_eq!(
        g.text(),
        r#"[{"name":"app","status_goal":"STARTED","restart_policy":"container","status":"READY"}]"#
    );
}

#[test]
fn container_lifecycle() {
    let d = host_device();
    let s = d.socket();
    let r = req(&s, "PUT", "/containers/A", br#"{"action":"stop"}"#);
    assert_eq!((r.status, r.text().as_str()), (200, ""));
    assert!(get(&s, "/containers")
        .text()
        .contains(r#""user_stopped":"true""#));
    let r = req(&s, "PUT", "/containers/A", br#"{"action": "start"}"#);
    assert_eq!(r.status, 200);
    let r = req(&s, "PUT", "/containers/M", br#"{"action":"stop"}"#);
    assert_eq!(r.status, 403);
    assert!(r
        .text()
        .starts_with(r#"{"Error":"Container has restart_policy 'system'"#));
    let r = req(&s, "PUT", "/containers/nope", br#"{"action":"stop"}"#);
    assert_eq!(
        (r.status, r.text().as_str()),
        (404, r#"{"Error":"Container not found"}"#)
    );
    let r = req(&s, "PUT", "/containers/A", b"{not json");
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, r#"{"Error":"Invalid JSON"}"#)
    );
    let r = req(&s, "PUT", "/containers/A", br#"{"action":"fly"}"#);
    assert_eq!(r.status, 400);
    let r = req(&s, "PUT", "/containers/A", &[b' '; 2000]);
    assert_eq!(
        (r.status, r.text().as_str()),
        (507, r#"{"Error":"Not enough disk space available"}"#)
    );
}

#[test]
fn routing_errors() {
    let d = host_device();
    let r = get(&d.socket(), "/nope");
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, r#"{"Error":"unknown endpoint: /nope"}"#)
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    let r = req(&d.socket(), "POST", "/containers", b"");
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, r#"{"Error":"Method not supported for this endpoint"}"#)
    );
    let r = get(&d.socket(), "/nope?x=1");
    assert_eq!(r.text(), r#"{"Error":"unknown endpoint: /nope?x=1"}"#);
}

#[test]
fn not_http_and_foreign_host() {
    let d = host_device();
    let out = raw_bytes(&d.socket(), b"hello, are you there?\n");
    let r = parse(&out);
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), r#"{"Error": "Unsupported protocol"}"#);
    // a foreign Host: refused with a status and a JSON body, nothing done
    for (first, host) in [(true, "example.com"), (false, "localhost.evil:80")] {
        let mut request = Vec::new();
        if !first {
            // the second request of a kept-alive connection
            request.extend_from_slice(b"GET /daemons HTTP/1.1\r\nHost: localhost\r\n\r\n");
        }
        request.extend_from_slice(
            format!("PUT /user-meta/h HTTP/1.1\r\nHost: {host}\r\nContent-Length: 1\r\n\r\nx")
                .as_bytes(),
        );
        let out = raw_bytes(&d.socket(), &request);
        let text = String::from_utf8_lossy(&out);
        let last = &out[text.rfind("HTTP/1.1 ").unwrap()..];
        let r = parse(last);
        assert_eq!(r.status, 400, "{text}");
        assert_eq!(
            r.text(),
            r#"{"Error":"Host not accepted: only localhost is served"}"#
        );
        assert_eq!(r.header("connection"), Some("close"));
    }
    assert!(d.state().user_meta.iter().all(|(k, _)| k != "h"));
    // HTTP/1.0 without Host is fine
    let out = raw_bytes(&d.socket(), b"GET /daemons HTTP/1.0\r\n\r\n");
    assert_eq!(parse(&out).status, 200);
}

#[test]
fn refused_requests_get_a_status_and_a_json_error() {
    let d = host_device();
    let over = |len: usize, body: &[u8]| {
        let mut v = format!(
            "PUT /user-meta/big HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len}\r\n\r\n"
        )
        .into_bytes();
        v.extend_from_slice(body);
        v
    };
    let many: String = (0..120).map(|i| format!("X-{i}: y\r\n")).collect();
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        // bodies over the cap: sent, or only announced (answered at once)
        (
            over(5000, &[b'x'; 5000]),
            507,
            "Not enough disk space available",
        ),
        (over(1 << 30, b""), 507, "Not enough disk space available"),
        // malformed request lines
        (
            b"GET /containers\r\n\r\n".to_vec(),
            400,
            "Unsupported protocol",
        ),
        (
            b"GET  /containers HTTP/1.1\r\n\r\n".to_vec(),
            400,
            "Unsupported protocol",
        ),
        (
            b"GET /con\x01tainers HTTP/1.1\r\n\r\n".to_vec(),
            400,
            "Unsupported protocol",
        ),
        // malformed heads
        (
            b"GET /containers HTTP/1.1\r\nHost localhost\r\n\r\n".to_vec(),
            400,
            "Bad request: malformed header",
        ),
        (
            b"PUT /user-meta/big HTTP/1.1\r\nContent-Length: ten\r\n\r\n".to_vec(),
            400,
            "Bad request: invalid Content-Length",
        ),
        (
            b"PUT /user-meta/big HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
                .to_vec(),
            400,
            "Bad request: conflicting Content-Length headers",
        ),
        (
            format!("GET /containers HTTP/1.1\r\n{many}\r\n").into_bytes(),
            431,
            "Too many request headers",
        ),
    ];
    for (request, status, msg) in cases {
        let mut s = std::os::unix::net::UnixStream::connect(d.socket()).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        std::io::Write::write_all(&mut s, &request).unwrap();
        let mut out = vec![];
        // a refusal closes the connection: read_to_end returns
        std::io::Read::read_to_end(&mut s, &mut out).unwrap();
        let shown = String::from_utf8_lossy(&request[..request.len().min(60)]).to_string();
        let r = parse(&out);
        assert_eq!(r.status, status, "{shown}");
        assert_eq!(
            r.header("content-type"),
            Some("application/json"),
            "{shown}"
        );
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["Error"], msg, "{shown}");
    }
    assert!(d.state().user_meta.iter().all(|(k, _)| k != "big"));
}

#[test]
fn keep_alive_and_chunked_bodies() {
    let d = host_device();
    let out = raw_bytes(
        &d.socket(),
        b"PUT /user-meta/k1 HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n\
          3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n\
          GET /user-meta HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&out);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    assert!(text.ends_with(r#"{"k1":"abcde"}"#), "{text}");
}

#[test]
fn commands_and_the_slot() {
    let d = host_device();
    let s = d.socket();
    let cmd = |op: &str| {
        req(
            &s,
            "POST",
            "/commands",
            format!(r#"{{"op":"{op}","payload":""}}"#).as_bytes(),
        )
    };
    let r = cmd("RUN_GC");
    assert_eq!((r.status, r.text().as_str()), (200, ""));
    let r = cmd("ENABLE_SSH");
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("120"));
    assert_eq!(
        r.text(),
        r#"{"Error":"A command is already in progress. Try again"}"#
    );
    assert_eq!(d.tick().map(|c| c.op), Some(CommandOp::RunGc));
    assert_eq!(cmd("ENABLE_SSH").status, 200);
    d.tick();
    d.state().facts.update_in_progress = true;
    let r = cmd("REBOOT_DEVICE");
    assert_eq!((r.status, r.header("retry-after")), (503, Some("600")));
    assert_eq!(
        r.text(),
        r#"{"Error":"Cannot do this operation while update is ongoing"}"#
    );
    let r = cmd("GO_REMOTE");
    assert_eq!(
        (r.status, r.text().as_str()),
        (
            409,
            r#"{"Error":"Cannot do this operation when remote mode is disabled by config"}"#
        )
    );
    let r = req(
        &s,
        "POST",
        "/commands",
        br#"{"op":"UPDATE_METADATA","payload":"{\"a\":\"b\"}"}"#,
    );
    assert_eq!(
        (r.status, r.text().as_str()),
        (
            409,
            r#"{"Error":"Cannot do this operation while on local mode"}"#
        )
    );
    let r = req(&s, "POST", "/commands", br#"{"op":"LOCAL_RUN"}"#);
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, r#"{"Error":"Command has bad format"}"#)
    );
    let r = req(&s, "POST", "/commands", b"");
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, r#"{"Error":"No command found"}"#)
    );
    let r = req(&s, "POST", "/commands", &[b'x'; 5000]);
    assert_eq!(r.status, 507);
    assert_eq!(cmd("TRY_ONCE").status, 200);
}

#[test]
fn metadata_crud() {
    let d = host_device();
    let s = d.socket();
    assert_eq!(req(&s, "PUT", "/device-meta/foo.bar", b"x").status, 200);
    assert_eq!(req(&s, "PUT", "/user-meta/PV_LOG_LEVEL", b"5").status, 200);
    assert_eq!(get(&s, "/user-meta").text(), r#"{"PV_LOG_LEVEL":"5"}"#);
    assert!(get(&s, "/device-meta")
        .text()
        .starts_with(r#"{"foo.bar":"x","pantavisor.revision":"0""#));
    let r = req(&s, "DELETE", "/device-meta/nope", b"");
    assert_eq!(
        (r.status, r.text().as_str()),
        (404, r#"{"Error":"Device meta does not exist"}"#)
    );
    let r = req(&s, "DELETE", "/user-meta/nope", b"");
    assert_eq!(r.text(), r#"{"Error":"User meta does not exist"}"#);
    assert_eq!(
        req(&s, "DELETE", "/user-meta/PV_LOG_LEVEL", b"").status,
        200
    );
    let r = req(&s, "PUT", "/user-meta/empty", b"");
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, r#"{"Error":"Cannot add or update user meta"}"#)
    );
    assert_eq!(req(&s, "PUT", "/user-meta/big", &[b'v'; 4097]).status, 507);
    assert_eq!(req(&s, "PUT", "/user-meta/max", &[b'v'; 4096]).status, 200);
}

#[test]
fn steps() {
    let d = host_device();
    let s = d.socket();
    let progress0 =
        r#"{"status":"DONE","status-msg":"Factory revision","progress":100,"retries":0}"#;
    assert_eq!(get(&s, "/steps/0/progress").text(), progress0);
    assert_eq!(get(&s, "/steps/current/progress").text(), progress0);
    assert!(get(&s, "/steps/current")
        .text()
        .contains("pantavisor-service-system@1"));
    let r = get(&s, "/steps/nope");
    assert_eq!(
        (r.status, r.text().as_str()),
        (404, r#"{"Error":"Resource does not exist"}"#)
    );
    let r = req(
        &s,
        "PUT",
        "/steps/locals/t1",
        br##"{"#spec":"pantavisor-service-system@1"}"##,
    );
    assert_eq!(r.status, 200);
    assert!(get(&s, "/steps/locals/t1/progress")
        .text()
        .contains("Update ready to be run"));
    assert_eq!(
        req(&s, "PUT", "/steps/locals/t1/commitmsg", b"first").status,
        200
    );
    assert_eq!(
        get(&s, "/steps").text(),
        format!(
            r#"[{{"name":"0","date":"2026-07-01T10:00:00Z","commitmsg":"","progress":{progress0}}},{{"name":"locals/t1","date":"2026-07-01T10:00:00Z","commitmsg":"first","progress":{{"status":"NEW","status-msg":"Update ready to be run","progress":0}}}}]"#
        )
    );
    let r = req(&s, "PUT", "/steps/locals/t2", b"not json");
    assert_eq!(
        (r.status, r.reason.as_str(), r.text().as_str()),
        (
            422,
            "Unprocessable Content",
            r#"{"Error":"Parser: State JSON has bad format"}"#
        )
    );
    assert_eq!(req(&s, "PUT", "/steps/locals/a/b", b"{}").status, 400);
    let long = format!("/steps/locals/{}", "n".repeat(65));
    let r = req(&s, "PUT", &long, b"{}");
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, r#"{"Error":"Request has bas step name"}"#)
    );
    assert_eq!(
        req(&s, "PUT", "/steps/0/commitmsg", &[b'm'; 257]).status,
        507
    );
    assert!(d
        .state()
        .log
        .iter()
        .any(|(_, r)| matches!(r, CtrlRequest::PutCommitMsg { rev, .. } if rev == "locals/t1")));
}

#[test]
fn daemons_drivers_and_the_rest() {
    let d = host_device();
    let s = d.socket();
    assert_eq!(
        get(&s, "/daemons").text(),
        r#"[{"name":"hwrngd","pid":0,"respawn":false},{"name":"pv-xconnect","pid":4242,"respawn":true}]"#
    );
    assert_eq!(
        req(&s, "PUT", "/daemons/pv-xconnect", br#"{"action":"stop"}"#).status,
        200
    );
    assert!(get(&s, "/daemons")
        .text()
        .contains(r#"{"name":"pv-xconnect","pid":-1,"respawn":false}"#));
    let r = req(&s, "PUT", "/daemons/nope", br#"{"action":"stop"}"#);
    assert_eq!(
        (r.status, r.text().as_str()),
        (404, r#"{"Error":"Daemon not found"}"#)
    );
    assert_eq!(get(&s, "/drivers").text(), "{}");
    for p in [
        "/drivers/load",
        "/drivers/unload",
        "/drivers/wifi/load",
        "/drivers/wifi/unload",
    ] {
        assert_eq!(req(&s, "PUT", p, b"").status, 200, "{p}");
    }
    let b = get(&s, "/buildinfo");
    assert_eq!(
        (b.status, b.header("content-type")),
        (200, Some("text/plain"))
    );
    assert_eq!(get(&s, "/config").text(), r#"{"log.level":0}"#);
    assert!(get(&s, "/config2")
        .text()
        .contains(r#""modified":"default""#));
    assert_eq!(get(&s, "/xconnect-graph").text(), "[]");
    assert_eq!(get(&s, "/wakelocks").status, 200);
    assert_eq!(
        req(&s, "POST", "/storage/gc", b"").text(),
        r#"{"reclaimed": 42}"#
    );
}

#[test]
fn stop_removes_the_socket_and_a_gone_owner_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = CtrlConfig::new(dir.path().join("run"), dir.path().join("objects"));
    std::fs::create_dir_all(dir.path().join("run")).unwrap();
    std::fs::write(&cfg.socket, b"stale").unwrap();
    let (server, queue) = CtrlServer::start(cfg, pid_resolver(vec![], Caller::Host)).unwrap();
    let socket = server.socket().to_path_buf();
    drop(queue);
    let r = get(&socket, "/containers");
    assert_eq!(
        (r.status, r.text().as_str()),
        (500, r#"{"Error":"Internal Error"}"#)
    );
    server.stop().unwrap();
    assert!(!socket.exists());
}
