//! The parts of the hub's JSON a device reads (unknown fields ignored),
//! where the hub is and what became of a call: the same shapes on the
//! wire between the runtime and its agent.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The answer to `POST /devices/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Registration {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub prn: String,
    #[serde(default)]
    pub secret: String,
    #[serde(default)]
    pub challenge: String,
    #[serde(default)]
    pub owner: String,
}

/// The answer to `GET /devices/<id>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceInfo {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub challenge: String,
    #[serde(default)]
    pub nick: String,
}

/// An object with its signed URLs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectInfo {
    #[serde(default)]
    pub sha256sum: String,
    #[serde(default)]
    pub size: String,
    #[serde(default)]
    pub sizeint: u64,
    #[serde(default, rename = "signed-geturl")]
    pub signed_geturl: String,
    #[serde(default, rename = "signed-puturl")]
    pub signed_puturl: String,
}

impl ObjectInfo {
    /// The size, from the string when it parses.
    pub fn size(&self) -> u64 {
        self.size.parse().unwrap_or(self.sizeint)
    }
}

/// A step (revision) of the device's trail.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    pub rev: i64,
    #[serde(default)]
    pub state: Value,
    #[serde(default)]
    pub progress: Value,
    #[serde(default, rename = "commit-msg")]
    pub commit_msg: String,
}

impl Step {
    /// `progress.status`, empty when absent.
    pub fn status(&self) -> &str {
        self.progress
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// Where and how to reach the hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// `PH_CREDS_HOST`: a name, or `http://name` for plain HTTP.
    pub host: String,
    pub port: u16,
    /// A PEM file of one more CA to trust.
    pub ca_file: Option<PathBuf>,
    /// An HTTP proxy (`PH_CREDS_PROXY_HOST:PORT`).
    pub proxy: Option<String>,
    pub user_agent: String,
    /// Per-request timeout (not for downloads, which may be long).
    pub timeout: Duration,
}

impl Endpoint {
    /// `scheme://host:port` of the hub.
    pub fn base_url(&self) -> String {
        match self.host.strip_prefix("http://") {
            Some(h) => format!("http://{}:{}", h.trim_end_matches('/'), self.port),
            None => {
                let h = self.host.strip_prefix("https://").unwrap_or(&self.host);
                format!("https://{}:{}", h.trim_end_matches('/'), self.port)
            }
        }
    }
}

/// How an announced object stands on the hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Announce {
    /// The hub has the blob (409).
    Present,
    /// Upload it to this path (from `/local-s3` on).
    Upload(String),
}

/// What became of a batch of log lines (spec §4.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogOutcome {
    Sent,
    RetryLater,
    Dropped,
}
