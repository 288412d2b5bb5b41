//! A hub on a loopback port (real HTTP, SQLite in a temp dir) and a client.

use std::sync::Arc;

use ph_server::{AppState, Hub, HubConfig};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub struct TestHub {
    pub url: String,
    pub hub: AppState,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// An answer: status, headers, JSON body (Null if not JSON).
pub struct Ans {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub bytes: Vec<u8>,
}

impl Ans {
    pub fn code(&self) -> u16 {
        self.status.as_u16()
    }
    pub fn header(&self, k: &str) -> &str {
        self.headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    pub fn s(&self, k: &str) -> String {
        self.body
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }
}

impl TestHub {
    pub async fn start() -> Self {
        Self::start_with(|_| {}, None).await
    }

    /// A hub on the database at `url` (objects and keys in a temp dir).
    pub async fn start_on(url: &str) -> Self {
        Self::start_full(|_| {}, None, Some(url)).await
    }

    pub async fn start_with(
        tune: impl FnOnce(&mut HubConfig),
        tls: Option<(
            Arc<tokio_rustls::rustls::ServerConfig>,
            reqwest::Certificate,
        )>,
    ) -> Self {
        Self::start_full(tune, tls, None).await
    }

    async fn start_full(
        tune: impl FnOnce(&mut HubConfig),
        tls: Option<(
            Arc<tokio_rustls::rustls::ServerConfig>,
            reqwest::Certificate,
        )>,
        database: Option<&str>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let host = if tls.is_some() {
            "localhost"
        } else {
            "127.0.0.1"
        };
        let url = format!("{scheme}://{host}:{port}");
        let mut cfg = HubConfig::new(&url);
        tune(&mut cfg);
        let hub = Hub::open(dir.path(), database, None, cfg).await.unwrap();
        let app = ph_server::app(hub.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (server_tls, ca) = match tls {
            Some((s, c)) => (Some(s), Some(c)),
            None => (None, None),
        };
        let task = tokio::spawn(async move {
            ph_server::serve(listener, app, server_tls, async {
                let _ = rx.await;
            })
            .await
        });
        let mut b = reqwest::Client::builder()
            .user_agent("ph-test/1")
            .redirect(reqwest::redirect::Policy::none());
        if let Some(ca) = ca {
            b = b.add_root_certificate(ca);
        }
        TestHub {
            url,
            hub,
            http: b.build().unwrap(),
            _dir: dir,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Stop serving (waits for open connections).
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// A verified user; returns (prn, token).
    pub async fn user(&self, nick: &str) -> (String, String) {
        let a = ph_server::users::add_user(
            &self.hub.store,
            nick,
            &format!("{nick}@example.com"),
            &format!("pw-{nick}"),
            true,
        )
        .await
        .unwrap();
        let r = self
            .call(
                "POST",
                "/auth/login",
                None,
                Some(json!({"username": nick, "password": format!("pw-{nick}")})),
            )
            .await;
        assert_eq!(r.code(), 200, "login {nick}: {}", r.body);
        (a.prn, r.s("token"))
    }

    /// Register an unclaimed device; returns the registration answer.
    pub async fn register(&self) -> Value {
        let r = self.call("POST", "/devices/", None, Some(json!({}))).await;
        assert_eq!(r.code(), 200, "{}", r.body);
        r.body
    }

    /// Log a device in.
    pub async fn device_login(&self, dev: &Value) -> String {
        let r = self
            .call(
                "POST",
                "/auth/login",
                None,
                Some(json!({"username": dev["prn"], "password": dev["secret"]})),
            )
            .await;
        assert_eq!(r.code(), 200, "{}", r.body);
        r.s("token")
    }

    /// A device claimed by the user of `utok`; returns (device, device token).
    pub async fn claimed_device(&self, utok: &str) -> (Value, String) {
        let d = self.register().await;
        let r = self
            .call(
                "PUT",
                &format!("/devices/{}?challenge={}", s(&d["id"]), s(&d["challenge"])),
                Some(utok),
                None,
            )
            .await;
        assert_eq!(r.code(), 200, "{}", r.body);
        let t = self.device_login(&d).await;
        (d, t)
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        tok: Option<&str>,
        body: Option<Value>,
    ) -> Ans {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{}", self.url, path)
        };
        let mut rq = self
            .http
            .request(Method::from_bytes(method.as_bytes()).unwrap(), url);
        if let Some(t) = tok {
            rq = rq.bearer_auth(t);
        }
        if let Some(b) = body {
            rq = rq
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&b).unwrap());
        }
        Self::ans(rq.send().await.unwrap()).await
    }

    pub async fn raw(&self, rq: reqwest::RequestBuilder) -> Ans {
        Self::ans(rq.send().await.unwrap()).await
    }

    async fn ans(r: reqwest::Response) -> Ans {
        let status = r.status();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.unwrap().to_vec();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ans {
            status,
            headers,
            body,
            bytes,
        }
    }

    /// Announce and upload `data` as the user of `tok`; returns the sha.
    pub async fn upload(&self, tok: &str, name: &str, data: &[u8]) -> String {
        let sha = sha(data);
        let r = self
            .call(
                "POST",
                "/objects/",
                Some(tok),
                Some(json!({"objectname": name, "sha256sum": sha, "size": data.len().to_string()})),
            )
            .await;
        if r.code() == 409 {
            return sha;
        }
        assert_eq!(r.code(), 200, "{}", r.body);
        let put = self
            .raw(self.http.put(r.s("signed-puturl")).body(data.to_vec()))
            .await;
        assert_eq!(put.code(), 200, "{}", put.body);
        sha
    }
}

pub fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

pub fn sha(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// The claims of a JWT, not verified (tests check what was signed).
pub fn claims(tok: &str) -> Value {
    use base64::Engine;
    let p = tok.split('.').nth(1).unwrap();
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(p)
        .unwrap();
    serde_json::from_slice(&b).unwrap()
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
