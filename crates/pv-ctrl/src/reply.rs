//! What the owner of state answers, and how it is rendered into the
//! original's bytes.

use std::path::PathBuf;

use serde::{Serialize, Serializer};

use crate::error::ApiError;

/// The owner's answer to a [`crate::Pending`]. [`crate::CtrlRequest`]
/// documents which variant each request expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CtrlReply {
    /// 200, empty body.
    Ok,
    /// An error answer.
    Error(ApiError),
    /// 200, the containers array.
    Containers(Vec<ContainerInfo>),
    /// 200, the groups array.
    Groups(Vec<GroupInfo>),
    /// 200, `[{"sha256":"...","size":"<bytes>"}]`.
    Objects(Vec<ObjectInfo>),
    /// 200, `[{"name","date","commitmsg","progress"}]`.
    Steps(Vec<StepInfo>),
    /// 200, `[{"name","pid","respawn"}]`.
    Daemons(Vec<DaemonInfo>),
    /// 200, `[{"name","type","status"}]`, or `{}` when empty (sic).
    Drivers(Vec<DriverInfo>),
    /// 200, JSON text sent verbatim (metadata, config, progress, graph,
    /// wakelocks, a state JSON held in memory).
    Json(String),
    /// 200, a JSON file streamed verbatim (a state JSON or progress file);
    /// a file that cannot be opened → 404 `Resource does not exist`.
    JsonFile(PathBuf),
    /// 200 `text/plain` (build info).
    Text(String),
    /// 200, `{"reclaimed": <bytes>}`.
    Gc { reclaimed: u64 },
}

impl From<ApiError> for CtrlReply {
    fn from(e: ApiError) -> Self {
        CtrlReply::Error(e)
    }
}

fn bool_string<S: Serializer>(b: &bool, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(if *b { "true" } else { "false" })
}

fn opt_bool_string<S: Serializer>(b: &Option<bool>, s: S) -> Result<S::Ok, S::Error> {
    match b {
        Some(b) => bool_string(b, s),
        None => s.serialize_none(),
    }
}

fn u64_string<S: Serializer>(n: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&n.to_string())
}

/// One element of `GET /containers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerInfo {
    pub name: String,
    pub group: String,
    /// Current status (`STARTED`, `READY`, ...).
    pub status: String,
    pub status_goal: String,
    /// `system` or `container`.
    pub restart_policy: String,
    pub roles: Vec<String>,
    /// Only when the effective policy is not `no`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_recovery: Option<AutoRecoveryInfo>,
    /// Only for restart policy `container`; rendered `"true"`/`"false"`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_bool_string"
    )]
    pub user_stopped: Option<bool>,
}

/// `auto_recovery` of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AutoRecoveryInfo {
    pub policy: String,
    pub max_retries: u32,
    pub current_retries: u32,
    /// Seconds.
    pub stable_timeout: u64,
    /// Rendered `"true"`/`"false"`.
    #[serde(serialize_with = "bool_string")]
    pub is_stable: bool,
    pub backoff_policy: String,
}

/// One element of `GET /groups`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupInfo {
    pub name: String,
    pub status_goal: String,
    pub restart_policy: String,
    pub status: String,
    /// Only when the group has an auto-recovery policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_recovery: Option<GroupAutoRecovery>,
}

/// `auto_recovery` of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupAutoRecovery {
    pub max_retries: u32,
    /// Seconds.
    pub stable_timeout: u64,
    pub backoff_policy: String,
}

/// One element of `GET /objects`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectInfo {
    pub sha256: String,
    /// Rendered as a JSON string.
    #[serde(serialize_with = "u64_string")]
    pub size: u64,
}

/// One element of `GET /steps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepInfo {
    /// `0`, `locals/t1`, ...
    pub name: String,
    /// Trail dir mtime, `%Y-%m-%dT%H:%M:%SZ`, local time.
    pub date: String,
    pub commitmsg: String,
    /// The progress file's JSON text; `None` (or text that is not JSON)
    /// renders `{}`.
    pub progress: Option<String>,
}

/// One element of `GET /daemons`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaemonInfo {
    pub name: String,
    /// −1 once stopped through the API, 0 if never started.
    pub pid: i32,
    pub respawn: bool,
}

/// One element of `GET /drivers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriverInfo {
    pub name: String,
    /// `REQUIRED`, `OPTIONAL` or `MANUAL`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `LOADED`, `UNLOADED` or `UNKNOWN`.
    pub status: String,
}

/// A rendered answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub status: u16,
    pub content_type: &'static str,
    pub retry_after: Option<u32>,
    pub body: RenderedBody,
}

/// The body of a rendered answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderedBody {
    Bytes(Vec<u8>),
    /// Stream this file (404 `Resource does not exist` if it cannot be
    /// opened).
    File(PathBuf),
}

pub(crate) const JSON: &str = "application/json";
pub(crate) const TEXT: &str = "text/plain";
pub(crate) const OCTETS: &str = "application/octet-stream";

fn compact<T: Serialize>(v: &T) -> Vec<u8> {
    // plain data: serialization cannot fail
    serde_json::to_vec(v).unwrap_or_default()
}

fn steps_json(steps: &[StepInfo]) -> Vec<u8> {
    let s = |v: &str| serde_json::Value::String(v.to_string()).to_string();
    let mut out = String::from("[");
    for (i, st) in steps.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let progress = st
            .progress
            .as_deref()
            .map(str::trim)
            .filter(|p| serde_json::from_str::<serde_json::Value>(p).is_ok())
            .unwrap_or("{}");
        out.push_str(&format!(
            "{{\"name\":{},\"date\":{},\"commitmsg\":{},\"progress\":{}}}",
            s(&st.name),
            s(&st.date),
            s(&st.commitmsg),
            progress
        ));
    }
    out.push(']');
    out.into_bytes()
}

fn ok(content_type: &'static str, body: Vec<u8>) -> Rendered {
    Rendered {
        status: 200,
        content_type,
        retry_after: None,
        body: RenderedBody::Bytes(body),
    }
}

/// Render an answer into status, content type and body bytes.
pub fn render(reply: CtrlReply) -> Rendered {
    match reply {
        CtrlReply::Ok => ok(JSON, vec![]),
        CtrlReply::Error(e) => Rendered {
            status: e.status(),
            content_type: JSON,
            retry_after: e.retry_after(),
            body: RenderedBody::Bytes(e.body().into_bytes()),
        },
        CtrlReply::Containers(v) => ok(JSON, compact(&v)),
        CtrlReply::Groups(v) => ok(JSON, compact(&v)),
        CtrlReply::Objects(v) => ok(JSON, compact(&v)),
        CtrlReply::Steps(v) => ok(JSON, steps_json(&v)),
        CtrlReply::Daemons(v) => ok(JSON, compact(&v)),
        CtrlReply::Drivers(v) if v.is_empty() => ok(JSON, b"{}".to_vec()),
        CtrlReply::Drivers(v) => ok(JSON, compact(&v)),
        CtrlReply::Json(s) => ok(JSON, s.into_bytes()),
        CtrlReply::JsonFile(p) => Rendered {
            status: 200,
            content_type: JSON,
            retry_after: None,
            body: RenderedBody::File(p),
        },
        CtrlReply::Text(s) => ok(TEXT, s.into_bytes()),
        CtrlReply::Gc { reclaimed } => ok(JSON, format!("{{\"reclaimed\": {reclaimed}}}").into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(r: CtrlReply) -> String {
        match render(r).body {
            RenderedBody::Bytes(b) => String::from_utf8(b).unwrap(),
            RenderedBody::File(p) => panic!("file {p:?}"),
        }
    }

    #[test]
    fn containers_shape() {
        let v = vec![
            ContainerInfo {
                name: "pvr-sdk".into(),
                group: "platform".into(),
                status: "STARTED".into(),
                status_goal: "STARTED".into(),
                restart_policy: "system".into(),
                roles: vec!["mgmt".into()],
                auto_recovery: None,
                user_stopped: None,
            },
            ContainerInfo {
                name: "app1".into(),
                group: "app".into(),
                status: "READY".into(),
                status_goal: "READY".into(),
                restart_policy: "container".into(),
                roles: vec![],
                auto_recovery: Some(AutoRecoveryInfo {
                    policy: "on-failure".into(),
                    max_retries: 5,
                    current_retries: 0,
                    stable_timeout: 30,
                    is_stable: false,
                    backoff_policy: "reboot".into(),
                }),
                user_stopped: Some(false),
            },
        ];
        assert_eq!(
            body(CtrlReply::Containers(v)),
            concat!(
                r#"[{"name":"pvr-sdk","group":"platform","status":"STARTED","status_goal":"STARTED","#,
                r#""restart_policy":"system","roles":["mgmt"]},"#,
                r#"{"name":"app1","group":"app","status":"READY","status_goal":"READY","restart_policy":"container","#,
                r#""roles":[],"auto_recovery":{"policy":"on-failure","max_retries":5,"current_retries":0,"#,
                r#""stable_timeout":30,"is_stable":"false","backoff_policy":"reboot"},"user_stopped":"false"}]"#
            )
        );
    }

    #[test]
    fn other_shapes() {
        assert_eq!(
            body(CtrlReply::Groups(vec![GroupInfo {
                name: "app".into(),
                status_goal: "STARTED".into(),
                restart_policy: "container".into(),
                status: "READY".into(),
                auto_recovery: Some(GroupAutoRecovery {
                    max_retries: 5,
                    stable_timeout: 30,
                    backoff_policy: "reboot".into()
                }),
            }])),
            r#"[{"name":"app","status_goal":"STARTED","restart_policy":"container","status":"READY","auto_recovery":{"max_retries":5,"stable_timeout":30,"backoff_policy":"reboot"}}]"#
        );
        assert_eq!(
            body(CtrlReply::Objects(vec![ObjectInfo {
                sha256: "ab".into(),
                size: 12
            }])),
            r#"[{"sha256":"ab","size":"12"}]"#
        );
        assert_eq!(
            body(CtrlReply::Steps(vec![
                StepInfo {
                    name: "0".into(),
                    date: "2026-07-01T10:00:00Z".into(),
                    commitmsg: "".into(),
                    progress: Some("{\"status\":\"DONE\"}\n".into()),
                },
                StepInfo {
                    name: "locals/t1".into(),
                    date: "d".into(),
                    commitmsg: "say \"hi\"".into(),
                    progress: None,
                }
            ])),
            r#"[{"name":"0","date":"2026-07-01T10:00:00Z","commitmsg":"","progress":{"status":"DONE"}},{"name":"locals/t1","date":"d","commitmsg":"say \"hi\"","progress":{}}]"#
        );
        assert_eq!(
            body(CtrlReply::Daemons(vec![DaemonInfo {
                name: "pv-xconnect".into(),
                pid: -1,
                respawn: false
            }])),
            r#"[{"name":"pv-xconnect","pid":-1,"respawn":false}]"#
        );
        assert_eq!(body(CtrlReply::Drivers(vec![])), "{}");
        assert_eq!(
            body(CtrlReply::Drivers(vec![DriverInfo {
                name: "wifi".into(),
                kind: "MANUAL".into(),
                status: "LOADED".into()
            }])),
            r#"[{"name":"wifi","type":"MANUAL","status":"LOADED"}]"#
        );
        assert_eq!(
            body(CtrlReply::Gc { reclaimed: 42 }),
            r#"{"reclaimed": 42}"#
        );
        assert_eq!(body(CtrlReply::Ok), "");
        let busy = render(CtrlReply::Error(ApiError::command_busy()));
        assert_eq!((busy.status, busy.retry_after), (503, Some(120)));
        assert_eq!(
            render(CtrlReply::Text("x".into())).content_type,
            "text/plain"
        );
    }
}
