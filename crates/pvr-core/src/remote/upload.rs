//! Writing objects to a remote: announce them (`POST <objects-endpoint>/`)
//! and upload the ones it lacks (`PUT signed-puturl`).

use std::collections::{BTreeMap, BTreeSet};

use pv_objects::{ObjectError, ObjectStore};
use pv_types::{ObjectId, State};
use reqwest::Method;

use super::fetch::{object_type, ObjectInfo};
use super::{
    check, is_url, join_path, parallel, read_json, redact, with_trailing_slash, Client, Payload,
    RemoteError,
};
use crate::progress::Progress;
use crate::{Repo, Result};

/// Uploads in flight at once.
pub const UPLOAD_WORKERS: usize = 5;

/// Uploads smaller than this draw no bar (they are over in a blink).
const UPLOAD_BAR_MIN: u64 = 1 << 20;

/// The (state key, object) pairs of `state` to announce to a remote whose
/// current state is `baseline`: every object reference whose object the
/// baseline does not reference, in key order. A sha shared by several keys
/// is announced once per key.
pub fn upload_plan(state: &State, baseline: Option<&State>) -> Vec<(String, ObjectId)> {
    let known: BTreeSet<ObjectId> = baseline
        .map(State::object_ids)
        .unwrap_or_default()
        .into_iter()
        .collect();
    state
        .objects()
        .into_iter()
        .filter(|(_, id)| !known.contains(id))
        .map(|(k, id)| (k.to_string(), id))
        .collect()
}

/// What an upload did.
#[derive(Debug, Clone, Default)]
pub struct UploadReport {
    /// Object references of the state whose object the remote's current
    /// state already has (not announced).
    pub in_baseline: usize,
    /// (key, object) pairs announced.
    pub announced: usize,
    /// Objects the remote already had (409).
    pub present: usize,
    /// Objects uploaded, each once.
    pub uploaded: Vec<ObjectId>,
    /// Bytes uploaded.
    pub bytes: u64,
}

/// Announce each (key, object) of `plan` to `objects_endpoint` and upload
/// the objects the remote asks for, each once. With `force`, objects the
/// remote has as its own (not `link`) are uploaded again. `log` receives
/// progress lines. Every planned object must be in `pool`.
pub fn upload_objects(
    client: &Client,
    objects_endpoint: &str,
    pool: &ObjectStore,
    plan: &[(String, ObjectId)],
    force: bool,
    log: &(dyn Fn(&str) + Sync),
    progress: &Progress,
) -> Result<UploadReport> {
    let mut sizes = BTreeMap::new();
    for (_, id) in plan {
        let p = pool.path(id);
        let meta = std::fs::metadata(&p).map_err(|_| ObjectError::Missing {
            id: *id,
            dir: pool.dir().to_path_buf(),
        })?;
        sizes.insert(*id, meta.len());
    }
    let post_url = with_trailing_slash(objects_endpoint)?;
    let mut report = UploadReport::default();
    // sha → (key, signed-puturl) of the first announcement asking for it
    let mut todo: BTreeMap<ObjectId, (String, String)> = BTreeMap::new();
    for (key, id) in plan {
        report.announced += 1;
        let sha = id.to_hex();
        let body = serde_json::json!({
            "sha256sum": sha,
            "objectname": key,
            "size": sizes[id].to_string(),
            "mime-type": "application/octet-stream",
        });
        let body = pv_json::to_canonical(&body);
        let r = client.send(
            Method::POST,
            &post_url,
            true,
            Some(Payload::Json(body)),
            false,
        )?;
        let code = r.status().as_u16();
        let info = match code {
            200..=299 => ObjectInfo::from_value(&read_json(&post_url, r)?, &post_url),
            409 => {
                if todo.contains_key(id) {
                    continue;
                }
                let kind = object_type(&r);
                if !force || kind == "link" {
                    report.present += 1;
                    log(&format!("{key} [OK on remote]"));
                    continue;
                }
                let mut info = match read_json(&post_url, r) {
                    Ok(v) => ObjectInfo::from_value(&v, &post_url),
                    Err(_) => ObjectInfo::default(),
                };
                if info.signed_puturl.is_empty() {
                    info = object_info_at(client, objects_endpoint, id).unwrap_or_default();
                }
                if info.signed_puturl.is_empty() {
                    // nowhere to upload to: --force cannot be honoured
                    report.present += 1;
                    log(&format!("{key} [OK on remote, no upload URL for --force]"));
                    continue;
                }
                info
            }
            401 | 403 | 503 => {
                return Err(check("POST", &post_url, r).err().unwrap_or_else(|| {
                    RemoteError::PostObject {
                        code,
                        key: key.clone(),
                    }
                    .into()
                }))
            }
            _ => {
                return Err(RemoteError::PostObject {
                    code,
                    key: key.clone(),
                }
                .into())
            }
        };
        if info.signed_puturl.is_empty() {
            return Err(RemoteError::BadAnswer {
                url: redact(&post_url),
                msg: format!("no signed-puturl for {key}"),
            }
            .into());
        }
        todo.entry(*id).or_insert((key.clone(), info.signed_puturl));
    }
    let jobs: Vec<(ObjectId, String, String)> = todo
        .into_iter()
        .map(|(id, (key, url))| (id, key, url))
        .collect();
    let bar = progress.bytes_over("upload", UPLOAD_BAR_MIN, || {
        jobs.iter().map(|(id, _, _)| sizes[id]).sum()
    });
    parallel(&jobs, UPLOAD_WORKERS, |(id, key, url)| {
        let len = sizes[id];
        let f = bar.reader(pool.open_raw(id)?);
        // signed URLs carry their own credentials: no bearer token
        let r = client.send(
            Method::PUT,
            url,
            false,
            Some(Payload::Stream(Box::new(f), len)),
            true,
        )?;
        check("PUT", url, r)?;
        log(&format!("{key} [OK uploaded {len} bytes]"));
        Ok(())
    })?;
    bar.finish();
    for (id, _, _) in jobs {
        report.bytes += sizes[&id];
        report.uploaded.push(id);
    }
    Ok(report)
}

fn object_info_at(client: &Client, objects_endpoint: &str, id: &ObjectId) -> Result<ObjectInfo> {
    let url = join_path(objects_endpoint, &id.to_hex())?;
    let v = client.get_json(&url)?;
    Ok(ObjectInfo::from_value(&v, &url))
}

/// `pvr putobjects <objects-endpoint>`: upload every object of the
/// committed state (no baseline, no post).
pub fn put_objects(
    repo: &Repo,
    client: &Client,
    objects_endpoint: &str,
    force: bool,
    log: &(dyn Fn(&str) + Sync),
    progress: &Progress,
) -> Result<UploadReport> {
    if !is_url(objects_endpoint) {
        return Err(RemoteError::NotRemote(objects_endpoint.to_string()).into());
    }
    let state = repo.pristine()?;
    let plan = upload_plan(&state, None);
    upload_objects(
        client,
        objects_endpoint,
        &repo.objects,
        &plan,
        force,
        log,
        progress,
    )
}

#[cfg(test)]
mod unit {
    use super::*;

    fn st(s: &str) -> State {
        State::from_slice(s.as_bytes()).unwrap()
    }
    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const C: &str = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

    #[test]
    fn plan_skips_objects_of_the_baseline() {
        let s = st(&format!(
            r##"{{"#spec":"S","a/x":"{A}","a/y":"{B}","b/z":"{B}","c/w":"{C}","c/i.json":{{"k":1}}}}"##
        ));
        let keys = |p: Vec<(String, ObjectId)>| p.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(keys(upload_plan(&s, None)), ["a/x", "a/y", "b/z", "c/w"]);
        // the baseline references B under another key: still known
        let base = st(&format!(r##"{{"#spec":"S","old":"{B}"}}"##));
        assert_eq!(keys(upload_plan(&s, Some(&base))), ["a/x", "c/w"]);
        let all = st(&format!(r##"{{"q":"{A}","r":"{B}","s":"{C}"}}"##));
        assert!(upload_plan(&s, Some(&all)).is_empty());
    }
}
