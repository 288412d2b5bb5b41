//! A fleet simulator: one process, many lightweight simulated devices
//! speaking the device protocol (spec hub.md §4) to a running hub.
//!
//! ```text
//! fleetsim --hub URL --user NICK --password PW --devices N
//!          [--period SECS (60)] [--seconds D (20)] [--updates K (N/10)]
//!          [--token-secs T (3600)]
//! ```
//!
//! Setup (not measured): the user makes a join token; N devices register
//! with it, log in and sync their factory state; a rollout of one state to
//! K devices in two waves is posted. Run (measured): for D seconds,
//! device cycles start at the rate of N devices each polling every
//! `period` seconds (time-compressed: the same request rate, fewer cycles
//! per device); a cycle is a login when the device's token is due (a
//! device keeps the token of its setup login and logs in again once per
//! token lifetime, so one cycle in T/period does), the Pantavisor update poll, progress reports QUEUED…DONE when the poll
//! returned a step, device-meta and a log batch. Prints p50/p99/max
//! latency and the error count, per request kind and overall.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

const POLL: &str = "/steps?progress.status=%7B%22$in%22:%5B%22NEW%22,%22DOWNLOADING%22,%22INPROGRESS%22,%22TESTING%22,%22QUEUED%22%5D%7D";

struct Args {
    hub: String,
    user: String,
    password: String,
    devices: usize,
    period: f64,
    seconds: f64,
    updates: Option<usize>,
    token_secs: f64,
}

fn args() -> Args {
    let mut a = Args {
        hub: "http://127.0.0.1:12365".into(),
        user: "user1".into(),
        password: String::new(),
        devices: 1000,
        period: 60.0,
        seconds: 20.0,
        updates: None,
        token_secs: 3600.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        let num = |v: &str| -> f64 { v.parse().unwrap_or_else(|_| panic!("{k}: {v:?}")) };
        match k.as_str() {
            "--hub" => a.hub = v,
            "--user" => a.user = v,
            "--password" => a.password = v,
            "--devices" => a.devices = num(&v) as usize,
            "--period" => a.period = num(&v),
            "--seconds" => a.seconds = num(&v),
            "--updates" => a.updates = Some(num(&v) as usize),
            "--token-secs" => a.token_secs = num(&v),
            _ => panic!("unknown argument {k}"),
        }
    }
    a
}

/// Latencies (ms) and errors per request kind.
#[derive(Default)]
struct Stats {
    ms: BTreeMap<&'static str, Vec<f64>>,
    errors: BTreeMap<&'static str, usize>,
}

type Shared = Arc<Mutex<Stats>>;

struct Sim {
    hub: String,
    http: Client,
    stats: Option<Shared>,
}

impl Sim {
    /// One request; returns the JSON answer, None (counted) on failure.
    async fn req(
        &self,
        kind: &'static str,
        m: &str,
        path: &str,
        tok: Option<&str>,
        body: Option<Value>,
    ) -> Option<Value> {
        let mut rq = self
            .http
            .request(m.parse().unwrap(), format!("{}{path}", self.hub))
            .header("user-agent", "fleetsim/1");
        if let Some(t) = tok {
            rq = rq.bearer_auth(t);
        }
        if let Some(b) = body {
            rq = rq
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let t0 = Instant::now();
        let r = rq.send().await;
        let out = match r {
            Ok(r) if r.status().is_success() => r.bytes().await.ok(),
            Ok(r) => {
                let code = r.status();
                let body = r.text().await.unwrap_or_default();
                if self.stats.is_none() {
                    eprintln!("{m} {path}: {code} {body}");
                }
                None
            }
            Err(e) => {
                if self.stats.is_none() {
                    eprintln!("{m} {path}: {e}");
                }
                None
            }
        };
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        if let Some(s) = &self.stats {
            let mut s = s.lock().unwrap();
            s.ms.entry(kind).or_default().push(ms);
            if out.is_none() {
                *s.errors.entry(kind).or_default() += 1;
            }
        }
        out.map(|b| serde_json::from_slice(&b).unwrap_or(Value::Null))
    }
}

/// A simulated device.
#[derive(Clone)]
struct Dev {
    id: String,
    prn: String,
    secret: String,
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// Register, log in and sync the factory trail: the device and its token.
async fn setup_device(sim: &Sim, join: &str) -> (Dev, String) {
    let r = sim
        .http
        .post(format!("{}/devices/", sim.hub))
        .header("user-agent", "fleetsim/1")
        .header("Pantahub-Devices-Auto-Token-V1", join)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("register");
    let d: Value = serde_json::from_slice(&r.bytes().await.expect("register answer"))
        .expect("register answer is JSON");
    let dev = Dev {
        id: s(&d["id"]),
        prn: s(&d["prn"]),
        secret: s(&d["secret"]),
    };
    let tok = login(sim, &dev).await.expect("device login");
    sim.req(
        "sync",
        "POST",
        "/trails/",
        Some(&tok),
        Some(json!({"#spec": "pantavisor-service-system@1"})),
    )
    .await
    .expect("factory trail");
    (dev, tok)
}

async fn login(sim: &Sim, d: &Dev) -> Option<String> {
    let r = sim
        .req(
            "login",
            "POST",
            "/auth/login",
            None,
            Some(json!({"username": d.prn, "password": d.secret})),
        )
        .await?;
    Some(s(&r["token"]))
}

/// One device cycle: poll, progress when there is an update, device-meta, logs.
async fn cycle(sim: &Sim, d: &Dev, tok: &str, n: u64) {
    let Some(steps) = sim
        .req(
            "poll",
            "GET",
            &format!("/trails/{}{POLL}", d.id),
            Some(tok),
            None,
        )
        .await
    else {
        return;
    };
    if let Some(step) = steps.as_array().and_then(|a| a.first()) {
        let rev = step["rev"].as_i64().unwrap_or(0);
        for st in ["QUEUED", "DOWNLOADING", "INPROGRESS", "DONE"] {
            sim.req(
                "progress",
                "PUT",
                &format!("/trails/{}/steps/{rev}/progress", d.id),
                Some(tok),
                Some(json!({"status": st, "progress": 100, "status-msg": st, "logs": ""})),
            )
            .await;
        }
    }
    sim.req(
        "device-meta",
        "PUT",
        &format!("/devices/{}/device-meta", d.id),
        Some(tok),
        Some(json!({"pantavisor.uptime": n.to_string(), "pantavisor.mode": "remote"})),
    )
    .await;
    sim.req(
        "logs",
        "POST",
        "/logs/",
        Some(tok),
        Some(json!([
            {"tsec": n, "tnano": 0, "src": "pantavisor.log", "lvl": "INFO", "msg": "cycle"},
            {"tsec": n, "tnano": 1, "src": "pantavisor.log", "lvl": "DEBUG", "msg": "state ok"}
        ])),
    )
    .await;
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

#[tokio::main]
async fn main() {
    let a = args();
    let http = Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let quiet = Sim {
        hub: a.hub.clone(),
        http: http.clone(),
        stats: None,
    };
    let t0 = Instant::now();
    let utok = s(&quiet
        .req(
            "login",
            "POST",
            "/auth/login",
            None,
            Some(json!({"username": a.user, "password": a.password})),
        )
        .await
        .expect("user login")["token"]);
    let join = s(&quiet
        .req(
            "token",
            "POST",
            "/devices/tokens",
            Some(&utok),
            Some(json!({})),
        )
        .await
        .expect("join token")["token"]);
    let sim = Arc::new(quiet);
    let gate = Arc::new(Semaphore::new(16));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..a.devices {
        let (sim, gate, join) = (sim.clone(), gate.clone(), join.clone());
        set.spawn(async move {
            let _p = gate.acquire().await.unwrap();
            setup_device(&sim, &join).await
        });
    }
    let (mut devs, mut setup_tokens) = (vec![], vec![]);
    while let Some(d) = set.join_next().await {
        let (d, tok) = d.expect("device setup");
        devs.push(d);
        setup_tokens.push(tok);
    }
    let k = a.updates.unwrap_or(a.devices / 10).min(a.devices);
    if k >= 2 {
        let ids: Vec<&str> = devs[..k].iter().map(|d| d.id.as_str()).collect();
        sim.req(
            "rollout",
            "POST",
            "/rollouts",
            Some(&utok),
            Some(json!({
                "state": {"#spec": "pantavisor-service-system@1", "fleetsim.json": {"v": 2}},
                "commit-msg": "fleetsim rollout",
                "devices": ids,
                "wave-percent": [50, 50],
                "failure-threshold": 1.0,
            })),
        )
        .await
        .expect("rollout");
    }
    let setup = t0.elapsed().as_secs_f64();

    let stats: Shared = Arc::default();
    let sim = Arc::new(Sim {
        hub: a.hub.clone(),
        http,
        stats: Some(stats.clone()),
    });
    let rate = a.devices as f64 / a.period;
    let total = (rate * a.seconds).round() as u64;
    let tokens: Arc<Vec<Mutex<Option<String>>>> = Arc::new(
        setup_tokens
            .into_iter()
            .map(|t| Mutex::new(Some(t)))
            .collect(),
    );
    // one cycle in this many logs in again (the token lifetime in cycles)
    let relogin_every = ((a.token_secs / a.period).round() as u64).max(1);
    let devs = Arc::new(devs);
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for n in 0..total {
        let due = start + Duration::from_secs_f64(n as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let (sim, devs, tokens) = (sim.clone(), devs.clone(), tokens.clone());
        set.spawn(async move {
            let i = (n as usize) % devs.len();
            let d = &devs[i];
            let relogin = n % relogin_every == relogin_every - 1;
            let have = tokens[i].lock().unwrap().clone().filter(|_| !relogin);
            let tok = match have {
                Some(t) => t,
                None => match login(&sim, d).await {
                    Some(t) => {
                        *tokens[i].lock().unwrap() = Some(t.clone());
                        t
                    }
                    None => return,
                },
            };
            cycle(&sim, d, &tok, n).await;
        });
    }
    while set.join_next().await.is_some() {}
    let ran = start.elapsed().as_secs_f64();
    let mut st = stats.lock().unwrap();
    let mut all: Vec<f64> = st.ms.values().flatten().copied().collect();
    let errors: usize = st.errors.values().sum();
    println!(
        "fleetsim: {} devices (setup {setup:.1}s), {:.1} device cycles/s (one poll per device every {}s) for {ran:.1}s: {} requests ({:.0}/s), {errors} errors, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        a.devices,
        rate,
        a.period,
        all.len(),
        all.len() as f64 / ran,
        pct(&mut all, 0.50),
        pct(&mut all, 0.99),
        pct(&mut all, 1.0),
    );
    let kinds: Vec<&'static str> = st.ms.keys().copied().collect();
    for kind in kinds {
        let e = st.errors.get(kind).copied().unwrap_or(0);
        let v = st.ms.get_mut(kind).unwrap();
        println!(
            "  {kind:<12} {:>7} requests, {e} errors, p50 {:.1} ms, p99 {:.1} ms",
            v.len(),
            pct(v, 0.50),
            pct(v, 0.99)
        );
    }
}
