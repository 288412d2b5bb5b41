//! The parts of the hub's JSON a device reads (unknown fields ignored).

use serde::Deserialize;
use serde_json::Value;

/// The answer to `POST /devices/`.
#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
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
