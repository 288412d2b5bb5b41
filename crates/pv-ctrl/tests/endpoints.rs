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
    let out = raw_bytes(
        &d.socket(),
        b"GET /containers HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
    );
    assert!(out.is_empty(), "{:?}", String::from_utf8_lossy(&out));
    // HTTP/1.0 without Host is fine
    let out = raw_bytes(&d.socket(), b"GET /daemons HTTP/1.0\r\n\r\n");
    assert_eq!(parse(&out).status, 200);
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
