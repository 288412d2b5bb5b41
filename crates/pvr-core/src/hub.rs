//! The hub's fleet calls pvr makes besides the `.pvrremote` protocol:
//! who am I, claiming, devices and their metadata, revisions in progress,
//! logs (spec hub.md §3, §5.3).

use reqwest::{Method, Url};
use serde_json::{Map, Value};

use crate::remote::auth::{claims, TokenCache};
use crate::remote::{redact, Client, RemoteError};
use crate::{Error, Result};

/// The hub API base of a URL given to `pvr login` or `--baseurl`:
/// scheme, host and port (a path such as `/auth` is dropped).
pub fn api_base(url: &str) -> Result<String> {
    let u = Url::parse(url.trim()).map_err(|e| RemoteError::BadUrl {
        url: redact(url),
        msg: e.to_string(),
    })?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err(RemoteError::BadUrl {
            url: redact(url),
            msg: "an http(s) hub URL is needed".into(),
        }
        .into());
    }
    Ok(u.origin().ascii_serialization())
}

/// What `pvr login <url>` reads: `<url>/auth_status` for an auth endpoint
/// (`…/auth`), else `<api>/auth/auth_status`.
pub fn auth_status_url(url: &str) -> Result<String> {
    let t = url.trim().trim_end_matches('/');
    if t.ends_with("/auth_status") {
        return Ok(t.to_string());
    }
    if t.ends_with("/auth") {
        return Ok(format!("{t}/auth_status"));
    }
    Ok(format!("{}/auth/auth_status", api_base(t)?))
}

/// `user/device` (the original's repository shorthand) when `loc` has that
/// shape and names no local path: the path to append to the hub's URL.
pub fn nick_reference(loc: &str, cwd: &std::path::Path) -> Option<String> {
    let nickish = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+' | '%'))
    };
    let (user, dev) = loc.split_once('/')?;
    if !nickish(user) || !nickish(dev) || cwd.join(loc).exists() {
        return None;
    }
    Some(format!("{user}/{dev}"))
}

/// One login of the token cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub auth_ep: String,
    pub realm: String,
    pub nick: String,
    pub prn: String,
    /// Seconds since the epoch when the access token expires (0: unknown).
    pub exp: i64,
}

/// Every login of the cache, in key order.
pub fn logins(cache: &TokenCache) -> Result<Vec<Login>> {
    Ok(cache
        .load()?
        .tokens
        .into_iter()
        .map(|(key, pair)| {
            let (ep, realm) = key.split_once(" realm=").unwrap_or((&key, ""));
            let c = claims(&pair.access).unwrap_or_default();
            let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            Login {
                auth_ep: ep.to_string(),
                realm: realm.to_string(),
                nick: s("nick"),
                prn: s("prn"),
                exp: c.get("exp").and_then(Value::as_i64).unwrap_or(0),
            }
        })
        .collect())
}

/// The hub for fleet commands: `explicit` (`--baseurl`), else the one hub
/// the token cache knows.
pub fn hub_base(explicit: Option<&str>, cache: &TokenCache) -> Result<String> {
    if let Some(u) = explicit.filter(|u| !u.trim().is_empty()) {
        return api_base(u);
    }
    let mut bases: Vec<String> = logins(cache)?
        .into_iter()
        .filter_map(|l| api_base(&l.auth_ep).ok())
        .collect();
    bases.dedup();
    match bases.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Error::Usage(
            "no hub known: log in with 'pvr login <hub-url>' or give --baseurl (PVR_BASEURL)"
                .into(),
        )),
        many => Err(Error::Usage(format!(
            "logged in to several hubs ({}): choose one with --baseurl (PVR_BASEURL)",
            many.join(", ")
        ))),
    }
}

fn url_with(base: &str, path: &str, query: &[(&str, String)]) -> Result<String> {
    let mut u = Url::parse(&format!("{}/{}", base.trim_end_matches('/'), path)).map_err(|e| {
        RemoteError::BadUrl {
            url: redact(base),
            msg: e.to_string(),
        }
    })?;
    if !query.is_empty() {
        let mut q = u.query_pairs_mut();
        for (k, v) in query {
            q.append_pair(k, v);
        }
    }
    Ok(u.into())
}

/// `PUT <device-url>?challenge=<c>`: claim a device; returns the device.
pub fn claim(client: &Client, device_url: &str, challenge: &str) -> Result<Value> {
    let mut u = Url::parse(device_url).map_err(|e| RemoteError::BadUrl {
        url: redact(device_url),
        msg: e.to_string(),
    })?;
    u.query_pairs_mut().append_pair("challenge", challenge);
    client.call_json(Method::PUT, u.as_str(), None)
}

/// `GET /devices/`: the caller's devices.
pub fn devices(client: &Client, base: &str) -> Result<Vec<Value>> {
    let v = client.call_json(Method::GET, &url_with(base, "devices/", &[])?, None)?;
    Ok(v.as_array().cloned().unwrap_or_default())
}

/// `GET /devices/<id-or-nick>`.
pub fn device(client: &Client, base: &str, id_or_nick: &str) -> Result<Value> {
    client.call_json(Method::GET, &device_url(base, id_or_nick, "")?, None)
}

fn device_url(base: &str, id: &str, sub: &str) -> Result<String> {
    if id.is_empty() || id.contains(['/', '?', '#']) {
        return Err(Error::Usage(format!("not a device id or nick: {id:?}")));
    }
    url_with(base, &format!("devices/{id}{sub}"), &[])
}

/// `KEY=VALUE` arguments as a metadata map (values are strings).
pub fn meta_pairs(args: &[String]) -> Result<Map<String, Value>> {
    let mut m = Map::new();
    for a in args {
        let Some((k, v)) = a.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            return Err(Error::Usage(format!("expected KEY=VALUE, got {a:?}")));
        };
        m.insert(k.to_string(), Value::String(v.to_string()));
    }
    Ok(m)
}

/// Which metadata `pvr device set` writes with the caller's token: a
/// device writes its device-meta, anyone else the user-meta.
pub fn meta_kind(client: &Client) -> &'static str {
    let device = client
        .token()
        .and_then(|t| claims(&t))
        .and_then(|c| c.get("type").and_then(Value::as_str).map(String::from))
        .is_some_and(|t| t == "DEVICE");
    if device {
        "device-meta"
    } else {
        "user-meta"
    }
}

/// `PATCH /devices/<id>/<kind>` with `pairs` (merged into the map).
pub fn patch_meta(
    client: &Client,
    base: &str,
    id: &str,
    kind: &str,
    pairs: &Map<String, Value>,
) -> Result<Value> {
    let url = device_url(base, id, &format!("/{kind}"))?;
    client.call_json(Method::PATCH, &url, Some(&Value::Object(pairs.clone())))
}

/// `GET /trails/summary`: each device with its latest revision and its
/// progress.
pub fn summaries(client: &Client, base: &str) -> Result<Vec<Value>> {
    let v = client.call_json(Method::GET, &url_with(base, "trails/summary", &[])?, None)?;
    Ok(v.as_array().cloned().unwrap_or_default())
}

/// What `pvr rollout create` asks the hub for.
#[derive(Debug, Clone, Default)]
pub struct NewRollout {
    pub commit_msg: String,
    /// Device ids (else `selector`).
    pub devices: Vec<String>,
    /// user-meta pairs every selected device has.
    pub selector: Map<String, Value>,
    /// Devices per wave (else `wave_percent`, else one wave).
    pub waves: Vec<u64>,
    pub wave_percent: Vec<f64>,
    /// Share of failed devices of a wave that pauses the rollout.
    pub failure_threshold: f64,
}

/// `pvr rollout create`: upload the objects of `repo`'s committed state the
/// hub lacks (`<hub>/objects/`), then `POST /rollouts` with the state.
pub fn create_rollout(
    client: &Client,
    base: &str,
    repo: &crate::Repo,
    r: &NewRollout,
    log: &(dyn Fn(&str) + Sync),
    progress: &crate::progress::Progress,
) -> Result<(crate::remote::upload::UploadReport, Value)> {
    let state = repo.pristine()?;
    let plan = crate::remote::upload::upload_plan(&state, None);
    let objects = url_with(base, "objects", &[])?;
    let up = crate::remote::upload::upload_objects(
        client,
        &objects,
        &repo.objects,
        &plan,
        false,
        log,
        progress,
    )?;
    let mut body = Map::new();
    body.insert("state".into(), Value::Object(state.as_map().clone()));
    body.insert("commit-msg".into(), Value::String(r.commit_msg.clone()));
    if r.devices.is_empty() {
        body.insert("selector".into(), Value::Object(r.selector.clone()));
    } else {
        body.insert("devices".into(), serde_json::json!(r.devices));
    }
    if !r.waves.is_empty() {
        body.insert("waves".into(), serde_json::json!(r.waves));
    } else if !r.wave_percent.is_empty() {
        body.insert("wave-percent".into(), serde_json::json!(r.wave_percent));
    }
    body.insert(
        "failure-threshold".into(),
        serde_json::json!(r.failure_threshold),
    );
    let v = client.call_json(
        Method::POST,
        &url_with(base, "rollouts", &[])?,
        Some(&Value::Object(body)),
    )?;
    Ok((up, v))
}

/// `GET /rollouts`.
pub fn rollouts(client: &Client, base: &str) -> Result<Vec<Value>> {
    let v = client.call_json(Method::GET, &url_with(base, "rollouts", &[])?, None)?;
    Ok(v.as_array().cloned().unwrap_or_default())
}

fn rollout_url(base: &str, id: &str, action: &str) -> Result<String> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(Error::Usage(format!("not a rollout id: {id:?}")));
    }
    url_with(base, &format!("rollouts/{id}{action}"), &[])
}

/// `GET /rollouts/<id>`.
pub fn rollout(client: &Client, base: &str, id: &str) -> Result<Value> {
    client.call_json(Method::GET, &rollout_url(base, id, "")?, None)
}

/// `POST /rollouts/<id>/<action>` (`pause`, `resume`, `abort`).
pub fn rollout_action(client: &Client, base: &str, id: &str, action: &str) -> Result<Value> {
    let url = rollout_url(base, id, &format!("/{action}"))?;
    client.call_json(Method::POST, &url, Some(&Value::Object(Map::new())))
}

/// Filters of a log query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    pub devices: Vec<String>,
    pub sources: Vec<String>,
    pub levels: Vec<String>,
    pub platforms: Vec<String>,
    pub revs: Vec<String>,
    /// RFC 3339 bounds on the time the hub received the entry.
    pub after: Option<String>,
    pub before: Option<String>,
}

impl LogFilter {
    /// Read `dev1,dev2/src1,src2@LVL1,LVL2#plat1,plat2` (every part
    /// optional) into the filter, adding to what is there.
    pub fn parse_spec(&mut self, spec: &str) {
        let split = |s: &str| -> Vec<String> {
            s.split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(String::from)
                .collect()
        };
        let (rest, plats) = spec.split_once('#').unwrap_or((spec, ""));
        let (rest, lvls) = rest.split_once('@').unwrap_or((rest, ""));
        let (devs, srcs) = rest.split_once('/').unwrap_or((rest, ""));
        self.devices.extend(split(devs));
        self.sources.extend(split(srcs));
        self.levels.extend(split(lvls));
        self.platforms.extend(split(plats));
    }

    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = vec![];
        for (k, v) in [
            ("dev", &self.devices),
            ("src", &self.sources),
            ("lvl", &self.levels),
            ("plat", &self.platforms),
            ("rev", &self.revs),
        ] {
            if !v.is_empty() {
                q.push((k, v.join(",")));
            }
        }
        if let Some(a) = &self.after {
            q.push(("after", a.clone()));
        }
        if let Some(b) = &self.before {
            q.push(("before", b.clone()));
        }
        q
    }
}

/// Log entries matching `f`, oldest first, at most `limit` of them (the
/// newest ones), fetched page by page.
pub fn logs(client: &Client, base: &str, f: &LogFilter, limit: usize) -> Result<Vec<Value>> {
    const PAGE: usize = 500;
    let mut out: Vec<Value> = vec![];
    let mut start = 0usize;
    while out.len() < limit {
        let mut q = f.query();
        q.push(("sort", "-time-created,-tsec,-tnano".into()));
        q.push(("start", start.to_string()));
        q.push(("page", PAGE.min(limit - out.len()).to_string()));
        let v = client.call_json(Method::GET, &url_with(base, "logs/", &q)?, None)?;
        let entries = v
            .get("entries")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let count = v.get("count").and_then(Value::as_u64).unwrap_or(0) as usize;
        start += entries.len();
        let empty = entries.is_empty();
        out.extend(entries);
        if empty || start >= count {
            break;
        }
    }
    out.truncate(limit);
    out.reverse();
    Ok(out)
}

/// One log entry as `pvr device logs` prints it:
/// `<time> <device[:8]>:<platform>(<source>):<level>\t<message>`.
pub fn log_line(e: &Value) -> String {
    let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("");
    let dev = s("dev").rsplit('/').next().unwrap_or("");
    let dev: String = dev.chars().take(8).collect();
    let time = match e.get("tsec").and_then(Value::as_i64) {
        Some(t) => chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default(),
        None => s("time-created").to_string(),
    };
    format!(
        "{time} {dev}:{}({}):{}\t{}",
        s("plat"),
        s("src"),
        s("lvl"),
        s("msg")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_and_status_urls() {
        assert_eq!(
            api_base("http://127.0.0.1:9/auth").unwrap(),
            "http://127.0.0.1:9"
        );
        assert_eq!(
            api_base("https://hub.example/").unwrap(),
            "https://hub.example"
        );
        assert!(api_base("ftp://x").is_err());
        assert!(api_base("hub").is_err());
        assert_eq!(
            auth_status_url("http://h:1").unwrap(),
            "http://h:1/auth/auth_status"
        );
        assert_eq!(
            auth_status_url("http://h:1/auth/").unwrap(),
            "http://h:1/auth/auth_status"
        );
    }

    #[test]
    fn user_device_shorthand() {
        let d = tempfile::tempdir().unwrap();
        let n = |s: &str| nick_reference(s, d.path());
        assert_eq!(n("alice/my_dev"), Some("alice/my_dev".into()));
        assert_eq!(n("alice"), None);
        assert_eq!(n("a/b/c"), None);
        assert_eq!(n("./b"), None);
        assert_eq!(n("a/.pvr"), None);
        assert_eq!(n("/abs"), None);
        assert_eq!(n("dir/export.tgz"), None);
        std::fs::create_dir_all(d.path().join("x/y")).unwrap();
        assert_eq!(n("x/y"), None);
    }

    #[test]
    fn log_specs() {
        let mut f = LogFilter::default();
        f.parse_spec("d1,d2/pantavisor.log,x.log@INFO,WARN#linux");
        assert_eq!(f.devices, ["d1", "d2"]);
        assert_eq!(f.sources, ["pantavisor.log", "x.log"]);
        assert_eq!(f.levels, ["INFO", "WARN"]);
        assert_eq!(f.platforms, ["linux"]);
        let mut g = LogFilter::default();
        g.parse_spec("@ERROR");
        assert!(g.devices.is_empty() && g.sources.is_empty());
        assert_eq!(g.levels, ["ERROR"]);
        let line = log_line(&serde_json::json!({
            "dev": "prn:::devices:/5d555d5e80123b31faa3cff2", "tsec": 1578315257,
            "plat": "linux", "src": "pantavisor.log", "lvl": "INFO", "msg": "hi"
        }));
        assert_eq!(
            line,
            "2020-01-06T12:54:17Z 5d555d5e:linux(pantavisor.log):INFO\thi"
        );
    }

    #[test]
    fn meta_arguments() {
        let m = meta_pairs(&["a=1".into(), "b=x=y".into(), "c=".into()]).unwrap();
        assert_eq!(
            Value::Object(m),
            serde_json::json!({"a":"1","b":"x=y","c":""})
        );
        assert!(meta_pairs(&["novalue".into()]).is_err());
        assert!(meta_pairs(&["=v".into()]).is_err());
    }
}
