//! A real hub (`pantahub serve` on a fresh SQLite data dir, listening on
//! a free port) and helpers to run pvr and raw API calls against it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

/// A running `pantahub serve` on a fresh data dir; stopped on drop.
pub struct Hub {
    pub url: String,
    _server: pv_testkit::hub::Hub,
    _dir: tempfile::TempDir,
}

fn pantahub() -> PathBuf {
    pv_testkit::workspace_bin(env!("CARGO_BIN_EXE_pvr"), env!("CARGO"), "pantahub")
}

/// A hub with these (nick, password) accounts, its tokens living
/// `token_secs` seconds (default one hour).
pub fn start_hub_with(users: &[(&str, &str)], token_secs: Option<i64>) -> Hub {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("hub");
    for (nick, password) in users {
        let email = format!("{nick}@example.com");
        pv_testkit::hub::Hub::add_user(&pantahub(), &data, nick, &email, password);
    }
    let server = pv_testkit::hub::Hub::start(&pantahub(), &data, |cmd| {
        if let Some(s) = token_secs {
            cmd.env("PANTAHUB_JWT_TIMEOUT_SECS", s.to_string());
        }
    });
    Hub {
        url: server.url.clone(),
        _server: server,
        _dir: dir,
    }
}

pub fn start_hub(users: &[(&str, &str)]) -> Hub {
    start_hub_with(users, None)
}

impl Hub {
    /// The prn of an account (through its login).
    pub fn prn_of(&self, nick: &str, password: &str) -> String {
        let t = self.login(nick, password);
        call(
            "GET",
            &format!("{}/auth/auth_status", self.url),
            Some(&t),
            Value::Null,
        )["prn"]
            .as_str()
            .unwrap()
            .to_string()
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

    /// A device registered, claimed with the user token `utok` and synced
    /// with an empty factory state (rev 0); (id, device token).
    pub fn claimed_device(&self, utok: &str) -> (String, String) {
        let dev = self.register_device();
        let id = dev["id"].as_str().unwrap().to_string();
        call(
            "PUT",
            &format!(
                "{}/devices/{id}?challenge={}",
                self.url,
                dev["challenge"].as_str().unwrap()
            ),
            Some(utok),
            json!({}),
        );
        let dtok = self.device_token(&dev);
        call(
            "POST",
            &format!("{}/trails/", self.url),
            Some(&dtok),
            json!({"#spec":"pantavisor-service-system@1"}),
        );
        (id, dtok)
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
