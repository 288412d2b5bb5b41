//! What a transaction asks of the running device, through its control
//! socket (`/pv/pv-ctrl` on the host, `/pantavisor/pv-ctrl` in a mgmt
//! container, or one named explicitly).

use std::collections::BTreeSet;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use pv_ctrl_client::{Body, Client};
use pv_types::ObjectId;
use serde_json::Value;

use crate::{Result, TxError};

/// Sockets tried in order when none is given: the first that exists wins.
pub use pv_ctrl_client::SOCKET_SEARCH;

/// The control socket to use: `explicit`, else the first of
/// [`SOCKET_SEARCH`] that exists.
pub fn find_socket(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    SOCKET_SEARCH
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or_else(|| {
            TxError::Ctrl(format!(
                "pv-ctrl socket not found (tried {})",
                SOCKET_SEARCH.join(", ")
            ))
        })
}

/// A device reached through its control socket.
#[derive(Debug, Clone)]
pub struct Device {
    client: Client,
    /// Upload buffer size (`PVTX_CTRL_BUF_SIZE`).
    buf: usize,
}

fn message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("Error").and_then(Value::as_str).map(String::from))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string())
}

impl Device {
    pub fn new(socket: &Path, buf: usize) -> Device {
        Device {
            client: Client::new(socket),
            buf,
        }
    }

    pub fn socket(&self) -> &Path {
        &self.client.socket
    }

    /// One request; a status other than 200 is an error with the
    /// device's message.
    pub fn call(&self, method: &str, path: &str, body: Body<'_>) -> Result<Vec<u8>> {
        let (status, b) = self.call_status(method, path, body)?;
        if status != 200 {
            return Err(TxError::Refused {
                what: format!("{method} {path}"),
                status,
                msg: message(&b),
            });
        }
        Ok(b)
    }

    /// One request; any status.
    pub fn call_status(&self, method: &str, path: &str, body: Body<'_>) -> Result<(u16, Vec<u8>)> {
        self.client
            .call(method, path, body, Some("application/json"))
            .map(|(h, b)| (h.status, b))
            .map_err(|e| {
                TxError::Ctrl(format!(
                    "failed to talk to pv-ctrl ({}): {e}",
                    self.client.socket.display()
                ))
            })
    }

    /// The state of a revision (`current`, `3`, `locals/x`).
    pub fn state(&self, rev: &str) -> Result<Vec<u8>> {
        self.call("GET", &format!("/steps/{rev}"), Body::None)
    }

    /// The objects the device has.
    pub fn objects(&self) -> Result<BTreeSet<ObjectId>> {
        let b = self.call("GET", "/objects", Body::None)?;
        let v: Value = serde_json::from_slice(&b)
            .map_err(|e| TxError::Ctrl(format!("pv-ctrl GET /objects: bad answer: {e}")))?;
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o.get("sha256")?.as_str()?.parse().ok())
            .collect())
    }

    /// Upload an object; the device checks its hash.
    pub fn put_object(&self, id: &ObjectId, size: u64, r: &mut dyn Read) -> Result<()> {
        let mut r = BufReader::with_capacity(self.buf, r);
        self.call("PUT", &format!("/objects/{id}"), Body::Reader(&mut r, size))
            .map(drop)
    }

    /// Store a state as revision `rev` (`locals/<name>`).
    pub fn put_state(&self, rev: &str, json: &[u8]) -> Result<()> {
        self.call("PUT", &format!("/steps/{rev}"), Body::Bytes(json))
            .map(drop)
    }

    /// Ask the device to run a revision (`LOCAL_RUN`).
    pub fn run(&self, rev: &str) -> Result<()> {
        let cmd = serde_json::json!({"op": "LOCAL_RUN", "payload": rev}).to_string();
        self.call("POST", "/commands", Body::Bytes(cmd.as_bytes()))
            .map(drop)
    }

    /// The progress of a revision as the device stores it.
    pub fn progress(&self, rev: &str) -> Result<Value> {
        let b = self.call("GET", &format!("/steps/{rev}/progress"), Body::None)?;
        serde_json::from_slice(&b)
            .map_err(|e| TxError::Ctrl(format!("progress of {rev}: bad answer: {e}")))
    }

    /// The name of the running revision (device metadata
    /// `pantavisor.revision`; `current` if the device does not say).
    pub fn running_revision(&self) -> Result<String> {
        let meta = self.get_json("/device-meta")?;
        Ok(meta
            .get("pantavisor.revision")
            .and_then(Value::as_str)
            .unwrap_or("current")
            .to_string())
    }

    /// A revision's name and progress; the running one without `rev`.
    pub fn status(&self, rev: Option<&str>) -> Result<(String, Value)> {
        let rev = match rev.filter(|r| !r.is_empty() && *r != "current") {
            Some(r) => r.to_string(),
            None => self.running_revision()?,
        };
        let progress = self.progress(&rev)?;
        Ok((rev, progress))
    }

    /// Device metadata; values holding JSON objects or lists parsed.
    pub fn device_meta(&self) -> Result<Value> {
        Ok(expand_json_values(self.get_json("/device-meta")?))
    }

    /// User metadata.
    pub fn user_meta(&self) -> Result<Value> {
        self.get_json("/user-meta")
    }

    /// Set a user metadata key (the device checks key and size).
    pub fn save_user_meta(&self, key: &str, value: &[u8]) -> Result<()> {
        check_meta_key(key)?;
        self.call("PUT", &format!("/user-meta/{key}"), Body::Bytes(value))
            .map(drop)
    }

    /// Remove a user metadata key.
    pub fn delete_user_meta(&self, key: &str) -> Result<()> {
        check_meta_key(key)?;
        self.call("DELETE", &format!("/user-meta/{key}"), Body::None)
            .map(drop)
    }

    /// A JSON answer (metadata, lists).
    pub fn get_json(&self, path: &str) -> Result<Value> {
        let b = self.call("GET", path, Body::None)?;
        serde_json::from_slice(&b)
            .map_err(|e| TxError::Ctrl(format!("pv-ctrl GET {path}: bad answer: {e}")))
    }
}

/// A metadata key that can travel in a control-socket path: printable
/// ASCII without `/`, `?`, `#`, `%`, `\\` or quotes, not `.` or `..`.
pub fn check_meta_key(k: &str) -> Result<()> {
    let ok = !k.is_empty()
        && k != "."
        && k != ".."
        && k.len() <= 255
        && k.bytes()
            .all(|b| b.is_ascii_graphic() && !b"/?#%\\\"".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(TxError::bad(format!(
            "bad metadata key {k:?} (printable, no '/', '?', '#', '%')"
        )))
    }
}

/// A metadata map as (key, text) rows for a screen or a page: strings as
/// they are, other values as their JSON.
pub fn meta_pairs(meta: &Value) -> Vec<(String, String)> {
    meta.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let v = v
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| v.to_string());
            (k.clone(), v)
        })
        .collect()
}

/// Metadata values that hold JSON objects or lists, parsed.
pub fn expand_json_values(meta: Value) -> Value {
    let Value::Object(m) = meta else { return meta };
    Value::Object(
        m.into_iter()
            .map(|(k, v)| {
                let parsed = v
                    .as_str()
                    .filter(|s| s.starts_with('{') || s.starts_with('['))
                    .and_then(|s| serde_json::from_str::<Value>(s).ok());
                (k, parsed.unwrap_or(v))
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_keys() {
        assert!(check_meta_key("pvr-sdk.authorized_keys").is_ok());
        for bad in ["", "..", "a/b", "a b", "a%2F", "a?b", "a\\b", "a\"b"] {
            assert!(check_meta_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_metadata_is_expanded() {
        let v = expand_json_values(json!({"a": "1", "b": "{\"x\":1}", "c": "[1]", "d": "{bad"}));
        assert_eq!(v, json!({"a": "1", "b": {"x": 1}, "c": [1], "d": "{bad"}));
    }
}
