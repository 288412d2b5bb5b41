//! A headless Chromium driven over the W3C WebDriver protocol
//! (`chromedriver`): the handful of calls the page tests need (the
//! device's web page, the hub's console), over a blocking HTTP client.
//! Feature `webdriver`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::blocking::Client,
    shots: PathBuf,
    n: usize,
}

impl Browser {
    /// Start chromedriver and a headless Chromium; screenshots go to `shots`.
    pub fn start(shots: &Path) -> Browser {
        std::fs::create_dir_all(shots).unwrap();
        let port = crate::free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver");
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1200,900", "--hide-scrollbars"
            ]}
        }}});
        let mut b = Browser {
            driver,
            base,
            session: String::new(),
            http,
            shots: shots.to_path_buf(),
            n: 0,
        };
        let v = b.call("POST", "/session", Some(caps));
        b.session = v["sessionId"].as_str().expect("a session").to_string();
        b
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self
                .http
                .post(url)
                .header("Content-Type", "application/json")
                .body(body.unwrap_or(json!({})).to_string()),
        };
        let resp = req.send().unwrap();
        let status = resp.status();
        let v: Value = serde_json::from_slice(&resp.bytes().unwrap()).unwrap();
        assert!(status.is_success(), "WebDriver {method} {path}: {v}");
        v["value"].clone()
    }

    fn s(&self, path: &str) -> String {
        format!("/session/{}{path}", self.session)
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", &self.s("/url"), Some(json!({ "url": url })));
    }

    pub fn url(&self) -> String {
        self.call("GET", &self.s("/url"), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The element matching a CSS selector, waiting for it.
    pub fn find(&self, css: &str) -> String {
        let body = json!({"using": "css selector", "value": css});
        self.retried("/element", body, &format!("no element {css}"), |v| {
            v[ELEMENT].as_str()
        })
    }

    /// POST `body` to the session's `path` until it succeeds with a value
    /// `pick` finds a string in (for 20 s, else the test fails with `what`).
    fn retried(
        &self,
        path: &str,
        body: Value,
        what: &str,
        pick: impl Fn(&Value) -> Option<&str>,
    ) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let r = self
                .http
                .post(format!("{}{}", self.base, self.s(path)))
                .header("Content-Type", "application/json")
                .body(body.to_string())
                .send()
                .unwrap();
            let ok = r.status().is_success();
            let v: Value = serde_json::from_slice(&r.bytes().unwrap()).unwrap_or_default();
            if let Some(found) = pick(&v["value"]).filter(|_| ok) {
                return found.to_string();
            }
            assert!(Instant::now() < deadline, "{what}: {v}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn click(&self, css: &str) {
        let e = self.find(css);
        self.call("POST", &self.s(&format!("/element/{e}/click")), None);
    }

    /// Click something that loads a new page (a link, a form's submit
    /// button) and wait until the new page has loaded, so that what the
    /// test reads next cannot come from the page before the click (whose
    /// text may already hold what the test waits for).
    pub fn click_and_load(&self, css: &str) {
        self.script("window.__pvOldPage = true; return null;");
        self.click(css);
        let js =
            "return (!window.__pvOldPage && document.readyState === 'complete') ? 'loaded' : null;";
        let body = json!({"script": js, "args": []});
        self.retried(
            "/execute/sync",
            body,
            &format!("no new page after clicking {css}"),
            Value::as_str,
        );
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.call(
            "POST",
            &self.s(&format!("/element/{e}/value")),
            Some(json!({ "text": text })),
        );
    }

    /// The page's visible text (read by a script: no element to go stale
    /// while the page reloads; retried while it navigates).
    pub fn text(&self) -> String {
        let script = "return document.body ? document.body.innerText : '';";
        let body = json!({"script": script, "args": []});
        self.retried("/execute/sync", body, "no page text", Value::as_str)
    }

    /// Wait until the page's text has every needle; panics with the text.
    pub fn wait_text(&self, needles: &[&str], secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let t = self.text();
            if needles.iter().all(|n| t.contains(n)) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "page never showed {needles:?}:\n{t}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Run a script in the page and return its value.
    pub fn script(&self, js: &str) -> Value {
        self.call(
            "POST",
            &self.s("/execute/sync"),
            Some(json!({"script": js, "args": []})),
        )
    }

    /// Empty an input, then type into it.
    pub fn fill(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.call("POST", &self.s(&format!("/element/{e}/clear")), None);
        self.type_into(css, text);
    }

    /// Save a PNG screenshot as `<n>-<name>.png`; returns its path.
    pub fn shot(&mut self, name: &str) -> PathBuf {
        self.n += 1;
        let b64 = self.call("GET", &self.s("/screenshot"), None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap();
        let p = self.shots.join(format!("{:02}-{name}.png", self.n));
        std::fs::write(&p, png).unwrap();
        p
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self
                .http
                .delete(format!("{}/session/{}", self.base, self.session))
                .send();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
