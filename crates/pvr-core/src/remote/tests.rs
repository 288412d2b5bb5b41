//! URL helpers, and the whole protocol against a small in-process server.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

use pv_types::{ObjectId, State};
use serde_json::Value;

use super::post::{post, PostOptions};
use super::upload::put_objects;
use super::*;
use crate::get::get_with;
use crate::{Error, Repo};

#[test]
fn join_like_go_path_join() {
    let j = |u: &str| join_path(u, ".pvrremote").unwrap();
    assert_eq!(j("http://h:1/cgi-bin"), "http://h:1/cgi-bin/.pvrremote");
    assert_eq!(j("http://h:1/cgi-bin/"), "http://h:1/cgi-bin/.pvrremote");
    assert_eq!(j("http://h:1"), "http://h:1/.pvrremote");
    assert_eq!(j("http://h:1/"), "http://h:1/.pvrremote");
    assert_eq!(j("http://h:1/a//b/../c#frag"), "http://h:1/a/c/.pvrremote");
    assert_eq!(j("https://h/t/1?x=y"), "https://h/t/1/.pvrremote?x=y");
    assert_eq!(
        with_trailing_slash("http://h/o").unwrap(),
        "http://h/o/".to_string()
    );
    assert_eq!(with_trailing_slash("http://h/o/").unwrap(), "http://h/o/");
    assert!(join_path("ftp://h/x", "y").is_err());
    assert!(join_path("not a url", "y").is_err());
}

#[test]
fn user_device_paths() {
    let n = |u: &str| nick_path(u);
    assert_eq!(n("http://h/u/d"), Some(("u".into(), "d".into(), None)));
    assert_eq!(
        n("http://h/u/d/3"),
        Some(("u".into(), "d".into(), Some("3".into())))
    );
    assert_eq!(
        n("http://h/u/d/steps/3"),
        Some(("u".into(), "d".into(), Some("3".into())))
    );
    assert_eq!(n("http://h/trails/abc"), None);
    assert_eq!(n("http://h/u/d/x"), None);
    assert_eq!(n("http://h/cgi-bin/pvr"), None);
    assert_eq!(n("http://h/one"), None);
}

#[test]
fn device_shorthand() {
    let cwd = tempfile::tempdir().unwrap();
    let e = |s: &str| expand_reference(s, cwd.path());
    assert_eq!(e("192.168.1.3"), "http://192.168.1.3:12368/cgi-bin/pvr");
    assert_eq!(e("10.0.0.1:8080"), "http://10.0.0.1:8080/cgi-bin/pvr");
    assert_eq!(
        e("10.0.0.1#bsp,-x"),
        "http://10.0.0.1:12368/cgi-bin/pvr#bsp,-x"
    );
    assert_eq!(e("::1"), "http://[::1]:12368/cgi-bin/pvr");
    assert_eq!(e("[::1]:9"), "http://[::1]:9/cgi-bin/pvr");
    assert_eq!(e("http://1.2.3.4/x"), "http://1.2.3.4/x");
    assert_eq!(e("user/device"), "user/device");
    assert_eq!(e("host"), "host");
    std::fs::create_dir(cwd.path().join("10.0.0.2")).unwrap();
    assert_eq!(e("10.0.0.2"), "10.0.0.2");
}

#[test]
fn clone_names() {
    assert_eq!(
        clone_dir_name("http://10.0.0.5:12368/cgi-bin/pvr"),
        "10.0.0.5"
    );
    assert_eq!(
        clone_dir_name("http://[::1]:12368/cgi-bin/"),
        "::1".replace(':', "_")
    );
    assert_eq!(
        clone_dir_name("https://api.pantahub.com/trails/5f1/steps/3#bsp"),
        "5f1"
    );
    assert_eq!(clone_dir_name("https://pvr.pantahub.com/me/dev1"), "dev1");
    assert_eq!(clone_dir_name("http://h"), "h");
}

#[test]
fn remote_info_fields() {
    let v: Value = serde_json::json!({
        "pvr-spec":"pvr-pantahub-1","json-get-url":"/cgi-bin/pvr/state",
        "json-key":"state","post-fields":["commit-msg"],"extra":1
    });
    let base = reqwest::Url::parse("http://d:1/cgi-bin/pvr/.pvrremote").unwrap();
    let i = RemoteInfo::from_value(&v, Some(&base));
    assert_eq!(i.json_get_url, "http://d:1/cgi-bin/pvr/state");
    assert_eq!(i.post_fields, ["commit-msg"]);
    assert!(i.post_url.is_empty() && i.post_fields_opt.is_empty());
}

// ---------------------------------------------------------------------------
// a tiny device-like server

#[derive(Default)]
struct Srv {
    token: String,
    objects: BTreeMap<String, Vec<u8>>,
    state: Vec<u8>,
    /// `METHOD path` of every request.
    log: Vec<String>,
    posted: Vec<Vec<u8>>,
    /// Serve these bytes instead of the object's.
    corrupt: Option<String>,
    revs: u32,
}

struct Req {
    method: String,
    path: String,
    auth: Option<String>,
    body: Vec<u8>,
}

fn read_req(s: &mut BufReader<TcpStream>) -> Option<Req> {
    let mut line = String::new();
    s.read_line(&mut line).ok()?;
    let mut it = line.split_whitespace();
    let (method, path) = (it.next()?.to_string(), it.next()?.to_string());
    let (mut len, mut auth) = (0usize, None);
    loop {
        let mut h = String::new();
        s.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        match k.to_ascii_lowercase().as_str() {
            "content-length" => len = v.trim().parse().ok()?,
            "authorization" => auth = Some(v.trim().to_string()),
            _ => {}
        }
    }
    let mut body = vec![0; len];
    s.read_exact(&mut body).ok()?;
    Some(Req {
        method,
        path,
        auth,
        body,
    })
}

fn respond(s: &mut TcpStream, code: u16, headers: &[(&str, &str)], body: &[u8]) {
    let reason = match code {
        200 => "OK",
        401 => "Unauthorized",
        404 => "Not Found",
        409 => "Conflict",
        _ => "Other",
    };
    let mut out = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let _ = s.write_all(out.as_bytes());
    let _ = s.write_all(body);
}

fn handle(srv: &Mutex<Srv>, base: &str, stream: TcpStream) {
    let mut w = stream.try_clone().unwrap();
    let Some(req) = read_req(&mut BufReader::new(stream)) else {
        return;
    };
    let mut g = srv.lock().unwrap();
    g.log.push(format!("{} {}", req.method, req.path));
    let (path, query) = req.path.split_once('?').unwrap_or((&req.path, ""));
    let json = |v: Value| pv_json::to_canonical(&v);
    if let Some(sha) = path.strip_prefix("/blob/") {
        // signed URLs: their own signature, never the bearer token
        if req.auth.is_some() || !query.starts_with("sig=") {
            return respond(&mut w, 400, &[], b"");
        }
        return match req.method.as_str() {
            "GET" => match g.objects.get(sha) {
                Some(b) if g.corrupt.as_deref() == Some(sha) => {
                    let mut b = b.clone();
                    b.push(b'!');
                    respond(&mut w, 200, &[], &b)
                }
                Some(b) => respond(&mut w, 200, &[], b),
                None => respond(&mut w, 404, &[], b""),
            },
            _ => {
                assert_eq!(ObjectId::of(&req.body).to_hex(), sha);
                g.objects.insert(sha.to_string(), req.body);
                respond(&mut w, 200, &[], b"")
            }
        };
    }
    if req.auth.as_deref() != Some(&format!("Bearer {}", g.token)) {
        return respond(&mut w, 401, &[], b"{}");
    }
    let p = path.strip_prefix("/cgi-bin/pvr").unwrap_or(path);
    match (req.method.as_str(), p) {
        ("GET", "/.pvrremote") => {
            let b = json(serde_json::json!({
                "pvr-spec": "pvr-pantahub-1",
                "json-get-url": format!("{base}/cgi-bin/pvr/state"),
                "json-key": "state",
                "objects-endpoint": format!("{base}/cgi-bin/pvr/objects"),
                "post-url": "/cgi-bin/pvr/steps",
                "post-fields": ["commit-msg"], "post-fields-opt": ["rev"],
                "unknown": true,
            }));
            respond(&mut w, 200, &[], &b)
        }
        ("GET", "/state") => {
            let b = g.state.clone();
            respond(&mut w, 200, &[], &b)
        }
        ("GET", o) if o.starts_with("/objects/") => {
            let sha = &o["/objects/".len()..];
            match g.objects.get(sha) {
                Some(b) => {
                    let v = serde_json::json!({"sha256sum": sha, "size": b.len().to_string(),
                        "signed-geturl": format!("/blob/{sha}?sig=get")});
                    respond(&mut w, 200, &[("Pantahub-Object-Type", "object")], &json(v))
                }
                None => respond(&mut w, 404, &[], b""),
            }
        }
        ("POST", "/objects/") => {
            let v = pv_json::parse(&req.body).unwrap();
            let sha = v["sha256sum"].as_str().unwrap().to_string();
            assert_eq!(v["mime-type"], "application/octet-stream");
            assert!(v["size"].is_string() && v["objectname"].is_string());
            if g.objects.contains_key(&sha) {
                respond(&mut w, 409, &[("Pantahub-Object-Type", "object")], b"{}")
            } else {
                let v = serde_json::json!({"signed-puturl": format!("{base}/blob/{sha}?sig=put")});
                respond(&mut w, 200, &[], &json(v))
            }
        }
        ("POST", "/steps") => {
            let v = pv_json::parse(&req.body).unwrap();
            let state = State::from_map(v["state"].as_object().unwrap().clone());
            for id in state.object_ids() {
                assert!(g.objects.contains_key(&id.to_hex()), "posted before upload");
            }
            g.state = state.to_canonical();
            g.posted.push(req.body);
            g.revs += 1;
            let v = serde_json::json!({"rev": -1, "revlocal": format!("locals/pvr-{}", g.revs),
                "state-sha": state.sha().to_hex(), "trail-id": "dev-1"});
            respond(&mut w, 200, &[], &json(v))
        }
        _ => respond(&mut w, 404, &[], b""),
    }
}

fn serve(srv: Srv) -> (String, Arc<Mutex<Srv>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let srv = Arc::new(Mutex::new(srv));
    let (s2, b2) = (srv.clone(), base.clone());
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let (s3, b3) = (s2.clone(), b2.clone());
            std::thread::spawn(move || handle(&s3, &b3, c));
        }
    });
    (base, srv)
}

fn seeded() -> (Srv, [Vec<u8>; 2]) {
    let o1 = b"kernel bytes".to_vec();
    let o2 = b"rootfs bytes".to_vec();
    let (h1, h2) = (ObjectId::of(&o1).to_hex(), ObjectId::of(&o2).to_hex());
    let state = format!(
        r##"{{"#spec":"pantavisor-service-system@1","a/run.json":{{"k":1}},"a/root":"{h2}","bsp/kernel":"{h1}"}}"##
    );
    let mut srv = Srv {
        token: "tok".into(),
        state: state.into_bytes(),
        ..Default::default()
    };
    srv.objects.insert(h1, o1.clone());
    srv.objects.insert(h2, o2.clone());
    (srv, [o1, o2])
}

fn new_repo(dir: &Path) -> Repo {
    Repo::init(&dir.join("repo"), &dir.join("cfg"), None, None).unwrap()
}

#[test]
fn clone_modify_post_uploads_only_missing_objects() {
    let (srv, [o1, _]) = seeded();
    let (base, srv) = serve(srv);
    let url = format!("{base}/cgi-bin/pvr");
    let tmp = tempfile::tempdir().unwrap();
    let mut repo = new_repo(tmp.path());
    let client = Client::new(Some("tok".into()));

    let rep = get_with(&mut repo, &url, false, &client).unwrap();
    assert_eq!(rep.lines, ["a/root [OK]", "bsp/kernel [OK]"]);
    let served = State::from_slice(&srv.lock().unwrap().state).unwrap();
    assert_eq!(
        repo.pristine().unwrap().to_canonical(),
        served.to_canonical()
    );
    assert_eq!(repo.objects.read(&ObjectId::of(&o1)).unwrap(), o1);
    let cfg = Repo::open(&repo.root, &repo.config_dir).unwrap().config;
    assert_eq!(
        (cfg.default_get_url.as_str(), cfg.default_post_url.as_str()),
        (url.as_str(), url.as_str())
    );

    // a second get finds everything cached
    let rep = get_with(&mut repo, &format!("{url}#bsp"), true, &client).unwrap();
    assert_eq!(rep.lines, ["bsp/kernel [OK cache]"]);

    // commit a new object under two keys
    let o3 = b"new app".to_vec();
    let id3 = repo.objects.put_bytes(&o3).unwrap();
    let mut st = repo.pristine().unwrap();
    st.insert("b/root", Value::String(id3.to_hex()));
    st.insert("c/root", Value::String(id3.to_hex()));
    repo.write_pristine(&st).unwrap();
    std::fs::write(repo.pvr_dir().join("commitmsg"), "add b and c").unwrap();
    srv.lock().unwrap().log.clear();

    let lines = Mutex::new(vec![]);
    let log = |l: &str| lines.lock().unwrap().push(l.to_string());
    let opts = PostOptions {
        envelope: Some(r#"{"meta":{"x":1}}"#.into()),
        run: false,
        ..Default::default()
    };
    let rep = post(&mut repo, &client, &opts, &log).unwrap();
    assert_eq!(rep.revision(), "locals/pvr-1");
    assert_eq!(rep.state_sha, st.sha().to_hex());
    assert_eq!(rep.trail_id, "dev-1");
    assert_eq!(rep.upload.announced, 2);
    assert_eq!(rep.upload.uploaded, [id3]);
    assert_eq!(rep.upload.in_baseline, 2);
    assert_eq!(
        *lines.lock().unwrap(),
        [format!("b/root [OK uploaded {} bytes]", o3.len())]
    );
    let g = srv.lock().unwrap();
    let count = |p: &str| g.log.iter().filter(|l| l.starts_with(p)).count();
    assert_eq!(count("POST /cgi-bin/pvr/objects/"), 2);
    assert_eq!(count("PUT /blob/"), 1);
    let expected = format!(
        r#"{{"commit-msg":"add b and c","meta":{{"x":1}},"rev":-1,"run":false,"state":{}}}"#,
        String::from_utf8(st.to_canonical()).unwrap()
    );
    assert_eq!(String::from_utf8(g.posted[0].clone()).unwrap(), expected);
    drop(g);

    // nothing new: nothing announced or uploaded
    srv.lock().unwrap().log.clear();
    let opts = PostOptions {
        url: Some(url.clone()),
        commit_msg: Some("again".into()),
        ..Default::default()
    };
    let rep = post(&mut repo, &client, &opts, &log).unwrap();
    assert_eq!(rep.revision(), "locals/pvr-2");
    assert_eq!(rep.upload.announced, 0);
    let g = srv.lock().unwrap();
    assert!(g
        .log
        .iter()
        .all(|l| !l.starts_with("PUT") && !l.contains("objects")));
    assert!(String::from_utf8_lossy(&g.posted[1])
        .starts_with(r#"{"commit-msg":"again","rev":-1,"state""#));
    drop(g);

    // putobjects --force: every object announced; the server has them all
    // and offers no upload URL, so nothing is uploaded
    srv.lock().unwrap().log.clear();
    let ep = format!("{url}/objects");
    let rep = put_objects(&repo, &client, &ep, true, &log, &Default::default()).unwrap();
    assert_eq!((rep.announced, rep.present), (4, 4));
    assert!(rep.uploaded.is_empty());
    assert!(srv
        .lock()
        .unwrap()
        .log
        .iter()
        .all(|l| !l.starts_with("PUT")));
}

#[test]
fn failures_change_nothing() {
    let (mut srv, [o1, _]) = seeded();
    srv.corrupt = Some(ObjectId::of(&o1).to_hex());
    let (base, _srv) = serve(srv);
    let url = format!("{base}/cgi-bin/pvr");
    let tmp = tempfile::tempdir().unwrap();
    let mut repo = new_repo(tmp.path());
    let before = std::fs::read(repo.pvr_dir().join("json")).unwrap();
    let cfg_before = std::fs::read(repo.pvr_dir().join("config")).unwrap();
    let unchanged = |repo: &Repo| {
        assert_eq!(std::fs::read(repo.pvr_dir().join("json")).unwrap(), before);
        assert_eq!(
            std::fs::read(repo.pvr_dir().join("config")).unwrap(),
            cfg_before
        );
    };

    // no token
    let e = get_with(&mut repo, &url, false, &Client::default()).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Remote(RemoteError::Unauthorized { code: 401, .. })
        ),
        "{e}"
    );
    assert!(e.to_string().contains("-a/--access-token or PVR_AUTH"));
    unchanged(&repo);

    // an object with the wrong bytes
    let client = Client::new(Some("tok".into()));
    let e = get_with(&mut repo, &url, false, &client).unwrap_err();
    assert!(matches!(e, Error::Object(_)), "{e}");
    assert!(!repo.objects.contains(&ObjectId::of(&o1)));
    unchanged(&repo);

    // not found
    let e = get_with(&mut repo, &format!("{base}/nothing/here"), false, &client).unwrap_err();
    assert!(
        e.to_string().starts_with("REST call failed. 404 Not Found"),
        "{e}"
    );
    unchanged(&repo);

    // nobody listening
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = get_with(
        &mut repo,
        &format!("http://127.0.0.1:{port}"),
        false,
        &client,
    )
    .unwrap_err();
    assert!(
        matches!(e, Error::Remote(RemoteError::Unreachable { .. })),
        "{e}"
    );
    unchanged(&repo);

    // post to a local path
    let opts = PostOptions {
        url: Some("/tmp".into()),
        ..Default::default()
    };
    let e = post(&mut repo, &client, &opts, &|_| {}).unwrap_err();
    assert!(e
        .to_string()
        .starts_with("Post must be a remote REST endpoint"));
    unchanged(&repo);
}
