//! Reading from a remote: its state (`json-get-url`) and objects
//! (`<objects-endpoint>/<sha>` → `signed-geturl`).

use std::path::PathBuf;

use pv_objects::{Batch, ObjectStore};
use pv_types::{ObjectId, State};
use reqwest::Method;
use serde_json::Value;

use super::{check, join_path, parallel, redact, Client, Remote, RemoteError};
use crate::{Error, Result};

/// Downloads in flight at once.
pub const DOWNLOAD_WORKERS: usize = 4;

/// What `GET <objects-endpoint>/<sha>` says about an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectInfo {
    pub sha256sum: String,
    pub objectname: String,
    /// `size` (served as a decimal string).
    pub size: Option<u64>,
    pub signed_geturl: String,
    pub signed_puturl: String,
    /// The `Pantahub-Object-Type` header (`object` or `link`), if sent.
    pub object_type: String,
}

impl ObjectInfo {
    /// Read an object description; `base` resolves relative signed URLs.
    pub fn from_value(v: &Value, base: &str) -> Self {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let u = |k: &str| {
            let raw = s(k);
            match reqwest::Url::parse(base) {
                Ok(b) if !raw.is_empty() => b.join(&raw).map(String::from).unwrap_or(raw),
                _ => raw,
            }
        };
        let size = match v.get("size") {
            Some(Value::String(t)) => t.trim().parse().ok(),
            Some(Value::Number(n)) => n.as_u64(),
            _ => None,
        };
        ObjectInfo {
            sha256sum: s("sha256sum"),
            objectname: s("objectname"),
            size,
            signed_geturl: u("signed-geturl"),
            signed_puturl: u("signed-puturl"),
            object_type: String::new(),
        }
    }
}

impl Remote {
    /// `GET json-get-url`: the remote's current state.
    pub fn fetch_state(&self, client: &Client) -> Result<State> {
        let url = self.need(&self.info.json_get_url, "json-get-url")?;
        let r = client.get_ok(url)?;
        let bytes = r.bytes().map_err(|e| RemoteError::Unreachable {
            url: redact(url),
            msg: super::error_chain(&e),
        })?;
        let state = State::from_slice(&bytes).map_err(|e| RemoteError::BadAnswer {
            url: redact(url),
            msg: format!("not a state: {e}"),
        })?;
        state
            .validate_structure()
            .map_err(|report| Error::InvalidState {
                what: redact(url),
                report,
            })?;
        Ok(state)
    }

    /// `GET <objects-endpoint>/<sha>`.
    pub fn object_info(&self, client: &Client, id: &ObjectId) -> Result<ObjectInfo> {
        let url = join_path(self.objects_endpoint()?, &id.to_hex())?;
        let r = client.send(Method::GET, &url, true, None, false)?;
        let r = check("GET", &url, r)?;
        let kind = object_type(&r);
        let v = super::read_json(&url, r)?;
        let mut info = ObjectInfo::from_value(&v, &url);
        info.object_type = kind;
        Ok(info)
    }

    /// Download `id` into `batch`, verified against its sha.
    fn download_object(&self, client: &Client, batch: &Batch<'_>, id: &ObjectId) -> Result<()> {
        let info = self.object_info(client, id)?;
        if info.signed_geturl.is_empty() {
            return Err(RemoteError::BadAnswer {
                url: redact(&join_path(self.objects_endpoint()?, &id.to_hex())?),
                msg: "no signed-geturl".into(),
            }
            .into());
        }
        let url = &info.signed_geturl;
        // signed URLs carry their own credentials: no bearer token
        let r = client.send(Method::GET, url, false, None, true)?;
        let r = check("GET", url, r)?;
        let what = PathBuf::from(redact(url));
        batch.put_reader(r, Some(id), &what)?;
        Ok(())
    }

    /// Download the objects of `wanted` missing from `pool`
    /// ([`DOWNLOAD_WORKERS`] at a time). Returns the ids downloaded; on
    /// error the ones verified so far are stored.
    pub fn download_missing(
        &self,
        client: &Client,
        pool: &ObjectStore,
        wanted: &[ObjectId],
    ) -> Result<Vec<ObjectId>> {
        let mut missing: Vec<ObjectId> = wanted
            .iter()
            .filter(|id| !pool.contains(id))
            .cloned()
            .collect();
        missing.sort();
        missing.dedup();
        if !missing.is_empty() {
            self.objects_endpoint()?;
        }
        // made durable together; the verified ones are kept even when
        // another download failed, so that a retry fetches only the rest
        let batch = pool.batch();
        let r = parallel(&missing, DOWNLOAD_WORKERS, |id| {
            self.download_object(client, &batch, id)
        });
        batch.publish()?;
        r?;
        Ok(missing)
    }
}

/// The `Pantahub-Object-Type` header.
pub(crate) fn object_type(r: &reqwest::blocking::Response) -> String {
    r.headers()
        .get("Pantahub-Object-Type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}
