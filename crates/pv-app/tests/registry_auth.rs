//! Token authentication and blob verification against a minimal registry
//! served here: manifests and blobs need `Authorization: Bearer good`; the
//! token endpoint named in the `WWW-Authenticate` challenge wants basic
//! auth `user:pass`. A second repository serves a layer whose bytes do not
//! match its digest.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use pv_app::{app_add, AppAddOptions, AppError, RegistryOptions};

struct Mock {
    port: u16,
    tokens_issued: Arc<AtomicUsize>,
}

fn respond(s: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut r = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str("\r\n");
    let _ = s.write_all(r.as_bytes());
    let _ = s.write_all(body);
}

fn serve(layout: PathBuf, listener: TcpListener, tokens: Arc<AtomicUsize>) {
    let port = listener.local_addr().unwrap().port();
    for stream in listener.incoming() {
        let Ok(mut s) = stream else { continue };
        let mut reader = BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() {
            continue;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut auth = String::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                break;
            }
            if let Some(v) = h
                .strip_prefix("authorization: ")
                .or_else(|| h.strip_prefix("Authorization: "))
            {
                auth = v.trim().to_string();
            }
        }
        if path.starts_with("/token") {
            // "user:pass" in base64
            if auth == "Basic dXNlcjpwYXNz" && path.contains("scope=repository%3A") {
                tokens.fetch_add(1, Ordering::SeqCst);
                respond(&mut s, "200 OK", &[], br#"{"token":"good"}"#);
            } else {
                respond(&mut s, "401 Unauthorized", &[], b"");
            }
            continue;
        }
        if auth != "Bearer good" {
            let chal = format!(
                "Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"mock\",scope=\"repository:app:pull\""
            );
            respond(
                &mut s,
                "401 Unauthorized",
                &[("WWW-Authenticate", chal)],
                b"",
            );
            continue;
        }
        let parts: Vec<&str> = path.trim_start_matches("/v2/").split('/').collect();
        let (repo, kind, reference) = (parts[0], parts[1], parts[2]);
        let file = if kind == "manifests" && !reference.starts_with("sha256:") {
            let idx = std::fs::read_to_string(layout.join("index.json")).unwrap();
            let at = idx.find("sha256:").unwrap();
            layout.join("blobs/sha256").join(&idx[at + 7..at + 71])
        } else {
            layout
                .join("blobs/sha256")
                .join(reference.trim_start_matches("sha256:"))
        };
        let Ok(mut body) = std::fs::read(&file) else {
            respond(&mut s, "404 Not Found", &[], b"");
            continue;
        };
        if repo == "corrupt" && kind == "blobs" && body.len() > 1000 {
            let n = body.len();
            body[n / 2] ^= 0xff;
        }
        let ct = if kind == "manifests" {
            "application/vnd.oci.image.manifest.v1+json"
        } else {
            "application/octet-stream"
        };
        respond(&mut s, "200 OK", &[("Content-Type", ct.to_string())], &body);
    }
}

fn start(layout: &Path) -> Mock {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let tokens = Arc::new(AtomicUsize::new(0));
    let (l, t) = (layout.to_path_buf(), tokens.clone());
    std::thread::spawn(move || serve(l, listener, t));
    Mock {
        port,
        tokens_issued: tokens,
    }
}

#[test]
fn bearer_token_with_basic_credentials_and_digest_checks() {
    if !pv_testkit::require_tools(&[BUSYBOX, "mksquashfs", "unsquashfs"]) {
        return;
    }
    let co = Checkout::new();
    let (dir, cache) = (co.dir(), co.cache());
    let env = co.env(&dir, &cache);
    let root = co.tmp.path().join("rootfs");
    busybox_rootfs(&root);
    let layout = co.tmp.path().join("layout");
    let manifest = oci_layout(&layout, "v1", &[layer_of_dir(&root)]);
    let mock = start(&layout);

    let opts = |repo: &str, user: Option<&str>| AppAddOptions {
        from: Some(format!("127.0.0.1:{}/{repo}:v1", mock.port)),
        registry: RegistryOptions {
            username: user.map(String::from),
            password: user.map(|_| "pass".to_string()),
            insecure: false,
        },
        ..Default::default()
    };
    // without credentials the token endpoint refuses
    let e = app_add(&env, "noauth", &opts("app", None)).unwrap_err();
    assert!(e.to_string().contains("token"), "{e}");
    assert!(!dir.join("noauth").exists());

    let r = app_add(&env, "app", &opts("app", Some("user"))).unwrap();
    assert!(r.digest.unwrap().ends_with(&manifest));
    assert!(mock.tokens_issued.load(Ordering::SeqCst) >= 1);
    assert!(has_path(
        &squash_listing(&dir.join("app/root.squashfs")),
        "/bin/busybox"
    ));

    // a blob that does not match its digest is refused, nothing is kept
    let before = co.listing();
    let cache = co.tmp.path().join("cache2");
    let env = co.env(&dir, &cache);
    let e = app_add(&env, "bad", &opts("corrupt", Some("user"))).unwrap_err();
    assert!(matches!(e, AppError::DigestMismatch { .. }), "{e}");
    assert_eq!(co.listing(), before);
    // and nothing corrupt stays in the cache
    for f in std::fs::read_dir(&cache).into_iter().flatten().flatten() {
        let mut data = vec![];
        std::fs::File::open(f.path())
            .unwrap()
            .read_to_end(&mut data)
            .unwrap();
        let name = f.file_name().to_string_lossy().into_owned();
        if !name.contains(".pvtmp-") {
            assert_eq!(format!("sha256:{}.tar.gz", sha(&data)), name);
        }
    }
}
