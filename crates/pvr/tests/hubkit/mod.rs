//! A real hub (the `pantahub serve` server on a fresh SQLite data dir,
//! listening on a free port) and helpers to run pvr and raw API calls
//! against it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

pub struct Hub {
    pub url: String,
    pub hub: ph_server::AppState,
    pub rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

/// A hub with tokens living `token_secs` seconds.
pub fn start_hub_with(token_secs: Option<i64>) -> Hub {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (url, hub) = rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://127.0.0.1:{}", l.local_addr().unwrap().port());
        let mut cfg = ph_server::HubConfig::new(&url);
        if let Some(s) = token_secs {
            cfg.token_secs = s;
        }
        let hub = ph_server::Hub::open_dir(dir.path(), cfg).await.unwrap();
        let app = ph_server::app(hub.clone());
        tokio::spawn(ph_server::serve(l, app, None, std::future::pending()));
        (url, hub)
    });
    Hub {
        url,
        hub,
        rt,
        _dir: dir,
    }
}

pub fn start_hub() -> Hub {
    start_hub_with(None)
}

impl Hub {
    /// A verified account; returns its prn.
    pub fn add_user(&self, nick: &str, password: &str) -> String {
        self.rt.block_on(async {
            ph_server::users::add_user(
                &self.hub.store,
                nick,
                &format!("{nick}@example.com"),
                password,
                true,
            )
            .await
            .unwrap()
            .prn
        })
    }

    /// `POST /auth/login`.
    pub fn login(&self, user: &str, password: &str) -> String {
        call(
            "POST",
            &format!("{}/auth/login", self.url),
            None,
            json!({"username": user, "password": password}),
        )["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// An unclaimed device registered as Pantavisor does; returns the
    /// registration answer (id, prn, secret, challenge).
    pub fn register_device(&self) -> Value {
        call("POST", &format!("{}/devices/", self.url), None, json!({}))
    }

    /// Log in as a device.
    pub fn device_token(&self, dev: &Value) -> String {
        self.login(
            dev["prn"].as_str().unwrap(),
            dev["secret"].as_str().unwrap(),
        )
    }
}

/// One JSON call; any non-2xx status fails the test.
pub fn call(method: &str, url: &str, token: Option<&str>, body: Value) -> Value {
    let c = reqwest::blocking::Client::new();
    let mut rq = c
        .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url)
        .header("user-agent", "pvr-hub-test")
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        rq = rq.bearer_auth(t);
    }
    let r = rq.send().unwrap();
    assert!(r.status().is_success(), "{method} {url}: {}", r.status());
    let b = r.bytes().unwrap();
    if b.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(&b).unwrap()
}

/// A pvr run in `dir` with its own config dir and no ambient credentials.
pub struct Pvr {
    pub cfg: PathBuf,
    pub env: Vec<(String, String)>,
}

impl Pvr {
    pub fn new(cfg: &Path) -> Self {
        Pvr {
            cfg: cfg.to_path_buf(),
            env: vec![],
        }
    }
    pub fn with(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
    pub fn run(&self, dir: &Path, args: &[&str]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pvr"));
        c.args(args)
            .current_dir(dir)
            .env("PVR_CONFIG_DIR", &self.cfg)
            .stdin(std::process::Stdio::null());
        for k in [
            "PVR_AUTH",
            "PVR_ACCESSTOKEN",
            "PVR_USER",
            "PVR_PASSWORD",
            "PVR_BASEURL",
        ] {
            c.env_remove(k);
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c.output().unwrap()
    }
    /// Run; must succeed; returns (stdout, stderr).
    pub fn ok(&self, dir: &Path, args: &[&str]) -> (String, String) {
        let o = self.run(dir, args);
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        );
        assert!(o.status.success(), "pvr {args:?}: {out}{err}");
        (out, err)
    }
    /// Run; must fail; returns stderr.
    pub fn fails(&self, dir: &Path, args: &[&str]) -> String {
        let o = self.run(dir, args);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(
            !o.status.success(),
            "pvr {args:?} should fail: {}{err}",
            String::from_utf8_lossy(&o.stdout)
        );
        err
    }
}

/// The token pvr cached for `hub_url`.
pub fn cached_token(cfg: &Path, hub_url: &str) -> Option<String> {
    let text = std::fs::read_to_string(cfg.join("auth.json")).ok()?;
    let v: Value = serde_json::from_str(&text).unwrap();
    v["tokens"][format!("{hub_url}/auth realm=pantahub services")]["access-token"]
        .as_str()
        .map(String::from)
}

/// The `exp` claim of a JWT.
pub fn exp_of(token: &str) -> i64 {
    use base64::Engine;
    let p = token.split('.').nth(1).unwrap();
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(p)
        .unwrap();
    serde_json::from_slice::<Value>(&b).unwrap()["exp"]
        .as_i64()
        .unwrap()
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
