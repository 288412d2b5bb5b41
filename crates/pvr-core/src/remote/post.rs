//! Posting a revision: upload what the remote lacks, then
//! `POST post-url` with the state in an envelope.

use reqwest::Method;
use serde_json::{Map, Value};

use pv_types::State;

use super::upload::{upload_objects, upload_plan, UploadReport};
use super::{check, discover, is_url, read_json, redact, Client, Payload, Remote, RemoteError};
use crate::progress::Progress;
use crate::{Error, Repo, Result};

/// Build the body of `POST post-url`: the `envelope` object (default `{}`)
/// with `commit-msg` (the given one; else kept from the envelope; else
/// `default_msg`), `rev` (the given one unless 0; else kept; else -1),
/// `run: false` when `run` is false, and the state under `json_key`
/// (`state` when empty).
pub fn build_envelope(
    envelope: Option<&str>,
    commit_msg: Option<&str>,
    default_msg: &str,
    rev: Option<i64>,
    run: bool,
    json_key: &str,
    state: &State,
) -> Result<Map<String, Value>> {
    let mut m = match envelope.map(str::trim).filter(|e| !e.is_empty()) {
        None => Map::new(),
        Some(e) => match pv_json::parse(e.as_bytes()) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err(Error::Usage("--envelope must be a JSON object".into())),
            Err(err) => return Err(Error::Usage(format!("--envelope is not JSON: {err}"))),
        },
    };
    match commit_msg {
        Some(msg) => {
            m.insert("commit-msg".into(), Value::String(msg.into()));
        }
        None => {
            m.entry("commit-msg")
                .or_insert_with(|| Value::String(default_msg.into()));
        }
    }
    match rev {
        Some(0) => {}
        Some(r) => {
            m.insert("rev".into(), Value::from(r));
        }
        None => {
            m.entry("rev").or_insert_with(|| Value::from(-1));
        }
    }
    if !run {
        m.insert("run".into(), Value::Bool(false));
    }
    let key = if json_key.is_empty() {
        "state"
    } else {
        json_key
    };
    m.insert(key.into(), Value::Object(state.as_map().clone()));
    Ok(m)
}

/// Options of `pvr post`.
#[derive(Debug, Clone)]
pub struct PostOptions {
    /// The remote; `None` = the saved default post (else get) URL.
    pub url: Option<String>,
    pub commit_msg: Option<String>,
    /// A JSON object the post body starts from.
    pub envelope: Option<String>,
    /// `None` = -1 ("next"), unless the envelope has one.
    pub rev: Option<i64>,
    /// Upload objects the remote already has (not links).
    pub force: bool,
    /// `false` sets `"run": false` (a device then stores but does not run it).
    pub run: bool,
    /// Bars for the upload (on a terminal).
    pub progress: Progress,
}

impl Default for PostOptions {
    fn default() -> Self {
        PostOptions {
            url: None,
            commit_msg: None,
            envelope: None,
            rev: None,
            force: false,
            run: true,
            progress: Progress::quiet(),
        }
    }
}

/// What `pvr post` did.
#[derive(Debug, Clone, Default)]
pub struct PostReport {
    pub url: String,
    pub rev: i64,
    /// A device's local revision name (`locals/…`) when `rev` is -1.
    pub revlocal: String,
    pub state_sha: String,
    pub trail_id: String,
    /// The device could not run the revision.
    pub run_error: Option<String>,
    pub upload: UploadReport,
    /// The answer of `POST post-url`.
    pub response: Value,
}

impl PostReport {
    /// The posted revision: `revlocal` for device-local posts, else `rev`.
    pub fn revision(&self) -> String {
        if self.rev == -1 && !self.revlocal.is_empty() {
            self.revlocal.clone()
        } else {
            self.rev.to_string()
        }
    }

    /// `Successfully posted Revision <rev> (<sha[:8]>) to device id <trail>`.
    pub fn message(&self) -> String {
        let sha: String = self.state_sha.chars().take(8).collect();
        format!(
            "Successfully posted Revision {} ({sha}) to device id {}",
            self.revision(),
            self.trail_id
        )
    }
}

/// `pvr post`: upload the objects of the committed state the remote lacks,
/// then post the state as a new revision. The saved default URLs are
/// updated only on success.
pub fn post(
    repo: &mut Repo,
    client: &Client,
    opts: &PostOptions,
    log: &(dyn Fn(&str) + Sync),
) -> Result<PostReport> {
    let url = match &opts.url {
        Some(u) => u.clone(),
        None if !repo.config.default_post_url.is_empty() => repo.config.default_post_url.clone(),
        None if !repo.config.default_get_url.is_empty() => repo.config.default_get_url.clone(),
        None => {
            return Err(Error::Usage(
                "no remote given and no default post URL saved".into(),
            ))
        }
    };
    let location = url
        .split_once('#')
        .map_or(url.as_str(), |(l, _)| l)
        .to_string();
    if !is_url(&location) {
        return Err(RemoteError::NotRemote(location).into());
    }
    let state = repo.pristine()?;
    let default_msg = repo.commit_message().unwrap_or_default();
    // a bad envelope fails before any network traffic
    build_envelope(
        opts.envelope.as_deref(),
        opts.commit_msg.as_deref(),
        &default_msg,
        opts.rev,
        opts.run,
        "",
        &state,
    )?;
    let remote = discover(client, &location)?;
    let post_url = remote.need(&remote.info.post_url, "post-url")?.to_string();
    let baseline = baseline(client, &remote)?;
    let plan = upload_plan(&state, baseline.as_ref());
    let mut upload = UploadReport {
        in_baseline: state.objects().len() - plan.len(),
        ..Default::default()
    };
    if !plan.is_empty() {
        let ep = remote.objects_endpoint()?;
        let r = upload_objects(
            client,
            ep,
            &repo.objects,
            &plan,
            opts.force,
            log,
            &opts.progress,
        )?;
        upload = UploadReport {
            in_baseline: upload.in_baseline,
            ..r
        };
    }
    let body = build_envelope(
        opts.envelope.as_deref(),
        opts.commit_msg.as_deref(),
        &default_msg,
        opts.rev,
        opts.run,
        &remote.info.json_key,
        &state,
    )?;
    let body = pv_json::to_canonical(&Value::Object(body));
    let r = client.send(
        Method::POST,
        &post_url,
        true,
        Some(Payload::Json(body)),
        false,
    )?;
    let r = check("POST", &post_url, r)?;
    let v = read_json(&post_url, r)?;
    let mut report = parse_post_answer(&post_url, v)?;
    report.url = location.clone();
    report.upload = upload;
    repo.config.default_post_url = location.clone();
    if repo.config.default_get_url.is_empty() {
        repo.config.default_get_url = location.clone();
    }
    if repo.config.default_put_url.is_empty() {
        repo.config.default_put_url = location;
    }
    repo.save_config()?;
    Ok(report)
}

/// The remote's current state, if it has a `json-get-url` and a state.
fn baseline(client: &Client, remote: &Remote) -> Result<Option<State>> {
    if remote.info.json_get_url.is_empty() {
        return Ok(None);
    }
    match remote.fetch_state(client) {
        Ok(s) => Ok(Some(s)),
        Err(Error::Remote(RemoteError::RestFailed { code: 404, .. })) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Read the answer of `POST post-url`.
pub fn parse_post_answer(url: &str, v: Value) -> Result<PostReport> {
    let bad = |msg: &str| RemoteError::BadAnswer {
        url: redact(url),
        msg: msg.into(),
    };
    let rev = match v.get("rev") {
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| bad("rev is not an integer"))?,
        _ => return Err(bad("no numeric rev").into()),
    };
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(String::from);
    let state_sha = s("state-sha").ok_or_else(|| bad("no state-sha"))?;
    let revlocal = s("revlocal").unwrap_or_default();
    if rev == -1 && revlocal.is_empty() {
        return Err(bad("rev -1 without revlocal").into());
    }
    Ok(PostReport {
        rev,
        revlocal,
        state_sha,
        trail_id: s("trail-id").unwrap_or_default(),
        run_error: s("run-error").filter(|e| !e.is_empty()),
        response: v,
        ..Default::default()
    })
}

#[cfg(test)]
mod unit {
    use super::*;

    fn st(s: &str) -> State {
        State::from_slice(s.as_bytes()).unwrap()
    }

    #[test]
    fn envelope() {
        let s = st(r##"{"#spec":"S","a.json":{"x":1}}"##);
        let canon = |m| String::from_utf8(pv_json::to_canonical(&Value::Object(m))).unwrap();
        let e = build_envelope(None, None, "last", None, true, "", &s).unwrap();
        assert_eq!(
            canon(e),
            r##"{"commit-msg":"last","rev":-1,"state":{"#spec":"S","a.json":{"x":1}}}"##
        );
        let e = build_envelope(
            Some(r#"{"meta":{"k":1},"commit-msg":"env","rev":7}"#),
            None,
            "last",
            None,
            false,
            "post",
            &s,
        )
        .unwrap();
        assert_eq!(
            canon(e),
            r##"{"commit-msg":"env","meta":{"k":1},"post":{"#spec":"S","a.json":{"x":1}},"rev":7,"run":false}"##
        );
        let e =
            build_envelope(Some("{}"), Some("mine"), "last", Some(3), true, "state", &s).unwrap();
        assert_eq!(e["commit-msg"], "mine");
        assert_eq!(e["rev"].as_i64(), Some(3));
        let e = build_envelope(None, None, "", Some(0), true, "", &s).unwrap();
        assert!(!e.contains_key("rev"));
        assert!(build_envelope(Some("[1]"), None, "", None, true, "", &s).is_err());
        assert!(build_envelope(Some("{"), None, "", None, true, "", &s).is_err());
    }

    #[test]
    fn post_answer() {
        let v = serde_json::json!({"rev":-1,"revlocal":"locals/pvr-1a2b","state-sha":"0123456789abcdef","trail-id":"dev1"});
        let r = parse_post_answer("http://x", v).unwrap();
        assert_eq!(r.revision(), "locals/pvr-1a2b");
        assert_eq!(
            r.message(),
            "Successfully posted Revision locals/pvr-1a2b (01234567) to device id dev1"
        );
        let v = serde_json::json!({"rev":5,"state-sha":"ab","trail-id":"t","run-error":"boom"});
        let r = parse_post_answer("http://x", v).unwrap();
        assert_eq!(r.revision(), "5");
        assert_eq!(r.run_error.as_deref(), Some("boom"));
        assert!(parse_post_answer("http://x", serde_json::json!({"state-sha":"a"})).is_err());
        assert!(
            parse_post_answer("http://x", serde_json::json!({"rev":-1,"state-sha":"a"})).is_err()
        );
    }
}
