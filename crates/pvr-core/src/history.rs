//! Local history of committed states (the original pvr keeps none).
//!
//! Kept under `<config dir>/history/<checkout key>/`: `log` (one JSON line
//! per commit: rev, sha, parent, time, message) and `states/<sha>.json`
//! (the canonical state bytes). Objects stay in the shared pool; the GC of
//! a pool must treat states listed here as roots.

use std::fs;
use std::io;
use std::path::PathBuf;

use pv_fs::IoResultExt;
use pv_types::State;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::{Error, Repo, Result};

/// One commit of the local history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based sequence number in this checkout.
    pub rev: u64,
    /// sha256 of the state's canonical bytes.
    pub sha: String,
    /// The previous commit's sha, empty for the first.
    pub parent: String,
    /// RFC 3339 UTC time of the commit.
    pub time: String,
    pub message: String,
}

fn dir(repo: &Repo) -> PathBuf {
    let key = hex::encode(&Sha256::digest(repo.root.as_os_str().as_encoded_bytes())[..12]);
    repo.config_dir.join("history").join(key)
}

/// All commits, oldest first.
pub fn list(repo: &Repo) -> Result<Vec<Entry>> {
    let p = dir(repo).join("log");
    let text = match fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(pv_fs::FsError::new("read", p, e).into()),
    };
    let mut out = vec![];
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v = pv_json::parse(line.as_bytes()).map_err(|e| Error::BadRepoFile {
            path: p.clone(),
            msg: e.to_string(),
        })?;
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        out.push(Entry {
            rev: v
                .get("rev")
                .and_then(pv_types::manifest::value_as_u64)
                .unwrap_or(0),
            sha: s("sha"),
            parent: s("parent"),
            time: s("time"),
            message: s("message"),
        });
    }
    Ok(out)
}

/// Append a commit of `state`.
pub fn record(repo: &Repo, state: &State, message: &str) -> Result<Entry> {
    let d = dir(repo);
    let states = d.join("states");
    fs::create_dir_all(&states).at("create directory", &states)?;
    let bytes = state.to_canonical();
    let sha = pv_types::ObjectId::of(&bytes).to_hex();
    let sp = states.join(format!("{sha}.json"));
    if !sp.exists() {
        pv_fs::write_atomic(&sp, &bytes)?;
    }
    let mut entries = list(repo)?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    let e = Entry {
        rev: entries.last().map(|e| e.rev + 1).unwrap_or(1),
        parent: entries.last().map(|e| e.sha.clone()).unwrap_or_default(),
        sha,
        time: now,
        message: message.to_string(),
    };
    entries.push(e.clone());
    let mut text = String::new();
    for e in &entries {
        let mut m = Map::new();
        m.insert("rev".into(), Value::from(e.rev));
        m.insert("sha".into(), Value::String(e.sha.clone()));
        m.insert("parent".into(), Value::String(e.parent.clone()));
        m.insert("time".into(), Value::String(e.time.clone()));
        m.insert("message".into(), Value::String(e.message.clone()));
        text.push_str(&pv_json::to_canonical_string(&Value::Object(m)));
        text.push('\n');
    }
    pv_fs::write_atomic(d.join("log"), text.as_bytes())?;
    Ok(e)
}

/// Find a commit by rev number, by `~N` (N commits before the last), or by
/// a unique prefix of its state sha.
pub fn resolve(repo: &Repo, what: &str) -> Result<Entry> {
    let entries = list(repo)?;
    let found = if let Some(back) = what.strip_prefix('~') {
        let n: usize = back
            .parse()
            .map_err(|_| Error::UnknownRevision(what.into()))?;
        entries
            .len()
            .checked_sub(n + 1)
            .and_then(|i| entries.get(i))
            .cloned()
    } else if let Ok(rev) = what.parse::<u64>() {
        entries.iter().find(|e| e.rev == rev).cloned()
    } else {
        let m: Vec<&Entry> = entries.iter().filter(|e| e.sha.starts_with(what)).collect();
        let mut shas: Vec<&str> = m.iter().map(|e| e.sha.as_str()).collect();
        shas.dedup();
        if shas.len() == 1 {
            m.last().map(|e| (*e).clone())
        } else {
            None
        }
    };
    found.ok_or_else(|| Error::UnknownRevision(what.into()))
}

/// The state recorded for a commit.
pub fn load_state(repo: &Repo, e: &Entry) -> Result<State> {
    let p = dir(repo).join("states").join(format!("{}.json", e.sha));
    let bytes = fs::read(&p).at("read", &p)?;
    if pv_types::ObjectId::of(&bytes).to_hex() != e.sha {
        return Err(Error::BadRepoFile {
            path: p,
            msg: "recorded state does not match its sha".into(),
        });
    }
    State::from_slice(&bytes).map_err(|err| Error::BadRepoFile {
        path: p,
        msg: err.to_string(),
    })
}
