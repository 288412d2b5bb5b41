//! Typed requests and the pure parser the handlers use: method + target +
//! body → [`Action`].

use std::path::PathBuf;

use pv_types::ObjectId;
use serde_json::Value;

use crate::command::Command;
use crate::error::ApiError;
use crate::routes::{match_route, BodyPolicy, Endpoint, Matched};
use crate::DEFAULT_MAX_STATE_JSON;

/// User or device metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetaKind {
    User,
    Device,
}

/// `PUT /containers/<name>` actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerAction {
    Start,
    Stop,
    Restart,
}

/// `PUT /daemons/<name>` actions. A body without a known action is
/// accepted and does nothing ([`DaemonAction::None`], answer 200).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaemonAction {
    Start,
    Stop,
    None,
}

/// The `type` of a signal. Only `ready` is implemented by the original;
/// any other type is answered 500 `Signal not expected from this platform`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalType {
    Ready,
    Other(String),
}

/// A `POST /signal` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    pub kind: SignalType,
    pub payload: Option<String>,
}

/// A request for the runtime's owner of state, one variant per endpoint.
/// Each variant's doc says which [`crate::CtrlReply`] the owner answers
/// with; any request may also be answered with `CtrlReply::Error`.
///
/// Fields of type `Result<_, ApiError>` hold a body that failed to parse:
/// the owner first does its own lookups (so that 404/403 come first, as in
/// the original) and then answers `Error(e)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CtrlRequest {
    /// `GET /containers` → `Containers`.
    ListContainers,
    /// `PUT /containers/<name>` → `Ok`; `container_not_found` (404),
    /// `container_protected` (403, restart policy `system`), then the
    /// parse error, then `cannot_start` / `cannot_restart` (400).
    ContainerAction {
        name: String,
        action: Result<ContainerAction, ApiError>,
    },
    /// `GET /groups` → `Groups`.
    ListGroups,
    /// `POST /signal` from any container → `Ok`, or
    /// `signal_not_expected` (500) when the caller's goal is not READY, the
    /// type is not `ready`, or the caller is the host.
    Signal(Signal),
    /// `POST /commands` → `Ok` once [`Command::admit`] accepted it into the
    /// slot, else `Error` with what `admit` returned.
    Command(Command),
    /// `GET /objects` → `Objects`.
    ListObjects,
    /// `PUT /objects/<sha>` after the body was stored and verified in
    /// `temp_path` (inside the objects directory): rename it to
    /// `<objects>/<id>` (fsync the directory) → `Ok`. The server removes
    /// the temp file afterwards if it is still there.
    PutObject { id: ObjectId, temp_path: PathBuf },
    /// `GET /steps` → `Steps`.
    ListSteps,
    /// `GET /steps/<rev>` and `/steps/locals/<name>` (`rev` is
    /// `locals/<name>`; `current` follows the symlink) → `JsonFile` of
    /// `trails/<rev>/.pvr/json`, or `resource_missing` (404).
    GetStep { rev: String },
    /// `PUT /steps/locals/<name>` (`rev` = `locals/<name>`, validated) →
    /// `Ok` after installing and verifying the state JSON (progress NEW);
    /// `step_rejected(msg)` (422) after removing the revision dir.
    PutStep { rev: String, json: Vec<u8> },
    /// `GET /steps/<rev>/progress` → `JsonFile`/`Json` of the progress
    /// file verbatim, or `resource_missing` (404).
    GetStepProgress { rev: String },
    /// `PUT /steps/<rev>/commitmsg` (≤ 256 bytes) → `Ok` after writing
    /// `trails/<rev>/.pv/commitmsg` (creating the directory);
    /// `commitmsg_not_written` (500).
    PutCommitMsg { rev: String, message: Vec<u8> },
    /// `GET /user-meta`, `GET /device-meta` → `Json` (the store's
    /// rendering: JSON objects/arrays raw, other values as strings).
    ListMeta { kind: MetaKind },
    /// `PUT /user-meta/<key>` (value 1..=4096 bytes) → `Ok`;
    /// `meta_not_written(kind, 500)`.
    PutMeta {
        kind: MetaKind,
        key: String,
        value: String,
    },
    /// `DELETE /user-meta/<key>` → `Ok`; `meta_not_found(kind)` (404).
    DeleteMeta { kind: MetaKind, key: String },
    /// `GET /xconnect-graph` → `Json` (array of links).
    XconnectGraph,
    /// `GET /buildinfo` → `Text` (build manifest).
    BuildInfo,
    /// `GET /drivers` → `Drivers` of the calling container (empty → `{}`).
    ListDrivers,
    /// `PUT /drivers/load`, `/drivers/<name>/load`: manual drivers of the
    /// calling container (all when `name` is `None`) → `Ok`;
    /// `drivers_not_loaded` / `driver_not_loaded` (400).
    LoadDrivers { name: Option<String> },
    /// `PUT /drivers/unload`, `/drivers/<name>/unload` → `Ok`.
    UnloadDrivers { name: Option<String> },
    /// `GET /daemons` → `Daemons`.
    ListDaemons,
    /// `PUT /daemons/<name>` → `Ok`; `daemon_not_found` (404), then the
    /// parse error (`invalid_json`).
    DaemonAction {
        name: String,
        action: Result<DaemonAction, ApiError>,
    },
    /// `GET /config` → `Json` (legacy aliases, typed values).
    Config,
    /// `GET /config2` → `Json` (`[{"key","value","modified"}]`).
    Config2,
    /// `POST /storage/gc`: run the garbage collector now → `Gc`;
    /// `gc_failed` (500).
    RunGc,
    /// `GET /wakelocks` → `Json`.
    Wakelocks,
}

/// What the server does with a routed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Hand the request to the owner of state.
    Forward(CtrlRequest),
    /// `PUT /objects/<sha>`: stream the body into the pool; `id` is `None`
    /// when the name has 64 characters but is not a sha256 (the upload then
    /// ends in 422, as no content can match it).
    ReceiveObject { id: Option<ObjectId> },
    /// `GET /objects/<sha>`: stream the pool file.
    SendObject { id: ObjectId },
}

/// Parse a whole request the way the server does, minus the caller checks
/// and object streaming: route, apply the body cap, build the [`Action`].
/// `target` is the request target (`/path?query`). Pure; used by the fuzz
/// target and tests.
pub fn parse(method: &str, target: &str, body: &[u8]) -> Result<Action, ApiError> {
    let path = target.split('?').next().unwrap_or("");
    let m = match_route(method, path, target)?;
    let cap = match m.route.body {
        BodyPolicy::Limit(n) => Some(n),
        BodyPolicy::StateJson => Some(DEFAULT_MAX_STATE_JSON),
        BodyPolicy::Ignore | BodyPolicy::Object => None,
    };
    if cap.is_some_and(|n| body.len() > n) {
        return Err(ApiError::no_space());
    }
    build(&m, body)
}

fn is_dot_name(s: &str) -> bool {
    s == "." || s == ".."
}

/// `locals/<name>` for a PUT ([`pv_types::check_local_name`]).
fn local_step(name: &str) -> Result<String, ApiError> {
    if pv_types::check_local_name(name).is_err() {
        return Err(ApiError::non_local_step_name());
    }
    Ok(format!("locals/{name}"))
}

fn json_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn parse_signal(body: &[u8]) -> Result<Signal, ApiError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| ApiError::signal_bad_format())?;
    let kind = v
        .get("type")
        .map(json_text)
        .ok_or_else(ApiError::signal_bad_format)?;
    let kind = if kind == "ready" {
        SignalType::Ready
    } else {
        SignalType::Other(kind)
    };
    Ok(Signal {
        kind,
        payload: v.get("payload").map(json_text),
    })
}

/// The `action` of a container or daemon body: `Ok(None)` when there is
/// none (an empty body has none).
fn action_of(body: &[u8]) -> Result<Option<String>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let v: Value = serde_json::from_slice(body).map_err(|_| ApiError::invalid_json())?;
    Ok(v.get("action").map(json_text))
}

fn parse_container_action(body: &[u8]) -> Result<ContainerAction, ApiError> {
    match action_of(body)?.as_deref() {
        None => Err(ApiError::missing_action()),
        Some("start") => Ok(ContainerAction::Start),
        Some("stop") => Ok(ContainerAction::Stop),
        Some("restart") => Ok(ContainerAction::Restart),
        Some(_) => Err(ApiError::invalid_action()),
    }
}

fn parse_daemon_action(body: &[u8]) -> Result<DaemonAction, ApiError> {
    Ok(match action_of(body)?.as_deref() {
        Some("start") => DaemonAction::Start,
        Some("stop") => DaemonAction::Stop,
        _ => DaemonAction::None,
    })
}

fn put_meta(kind: MetaKind, key: &str, body: &[u8]) -> Result<CtrlRequest, ApiError> {
    if body.is_empty() || is_dot_name(key) {
        return Err(ApiError::meta_not_written(kind, 400));
    }
    Ok(CtrlRequest::PutMeta {
        kind,
        key: key.to_string(),
        value: String::from_utf8_lossy(body).into_owned(),
    })
}

fn delete_meta(kind: MetaKind, key: &str) -> Result<CtrlRequest, ApiError> {
    if is_dot_name(key) {
        return Err(ApiError::meta_not_found(kind));
    }
    Ok(CtrlRequest::DeleteMeta {
        kind,
        key: key.to_string(),
    })
}

/// Build the action of a matched route from its (already capped) body.
pub(crate) fn build(m: &Matched<'_>, body: &[u8]) -> Result<Action, ApiError> {
    use CtrlRequest as R;
    let p = |i: usize| m.params.get(i).copied().unwrap_or_default();
    let fwd = |r: CtrlRequest| Ok(Action::Forward(r));
    // a step is a revision or `current` (pv_types::revision)
    let readable = |rev: String| {
        if pv_types::is_revision_or_current(&rev) {
            Ok(rev)
        } else {
            Err(ApiError::resource_missing())
        }
    };
    let writable = |rev: String| {
        if pv_types::is_revision_or_current(&rev) {
            Ok(rev)
        } else {
            Err(ApiError::bad_step_name())
        }
    };
    match m.route.endpoint {
        Endpoint::Containers => fwd(R::ListContainers),
        Endpoint::ContainerAction => fwd(R::ContainerAction {
            name: p(0).to_string(),
            action: parse_container_action(body),
        }),
        Endpoint::Groups => fwd(R::ListGroups),
        Endpoint::Signal => fwd(R::Signal(parse_signal(body)?)),
        Endpoint::Commands => fwd(R::Command(Command::parse(body)?)),
        Endpoint::Objects => fwd(R::ListObjects),
        Endpoint::ObjectPut | Endpoint::ObjectGet => {
            let name = p(0);
            if name.len() != 64 {
                return Err(ApiError::bad_object_name());
            }
            let id = name.parse::<ObjectId>().ok();
            match (m.route.endpoint, id) {
                (Endpoint::ObjectPut, id) => Ok(Action::ReceiveObject { id }),
                (_, Some(id)) => Ok(Action::SendObject { id }),
                (_, None) => Err(ApiError::bad_object_name()),
            }
        }
        Endpoint::Steps => fwd(R::ListSteps),
        Endpoint::StepGet => fwd(R::GetStep {
            rev: readable(p(0).to_string())?,
        }),
        Endpoint::LocalStepGet => fwd(R::GetStep {
            rev: readable(format!("locals/{}", p(0)))?,
        }),
        Endpoint::LocalStepPut => fwd(R::PutStep {
            rev: local_step(p(0))?,
            json: body.to_vec(),
        }),
        Endpoint::StepProgress => fwd(R::GetStepProgress {
            rev: readable(p(0).to_string())?,
        }),
        Endpoint::LocalStepProgress => fwd(R::GetStepProgress {
            rev: readable(format!("locals/{}", p(0)))?,
        }),
        Endpoint::StepCommitMsg => fwd(R::PutCommitMsg {
            rev: writable(p(0).to_string())?,
            message: body.to_vec(),
        }),
        Endpoint::LocalStepCommitMsg => fwd(R::PutCommitMsg {
            rev: writable(format!("locals/{}", p(0)))?,
            message: body.to_vec(),
        }),
        Endpoint::UserMeta => fwd(R::ListMeta {
            kind: MetaKind::User,
        }),
        Endpoint::UserMetaPut => fwd(put_meta(MetaKind::User, p(0), body)?),
        Endpoint::UserMetaDelete => fwd(delete_meta(MetaKind::User, p(0))?),
        Endpoint::DeviceMeta => fwd(R::ListMeta {
            kind: MetaKind::Device,
        }),
        Endpoint::DeviceMetaPut => fwd(put_meta(MetaKind::Device, p(0), body)?),
        Endpoint::DeviceMetaDelete => fwd(delete_meta(MetaKind::Device, p(0))?),
        Endpoint::XconnectGraph => fwd(R::XconnectGraph),
        Endpoint::BuildInfo => fwd(R::BuildInfo),
        Endpoint::Drivers => fwd(R::ListDrivers),
        Endpoint::DriversLoad => fwd(R::LoadDrivers { name: None }),
        Endpoint::DriversUnload => fwd(R::UnloadDrivers { name: None }),
        Endpoint::DriverLoad => fwd(R::LoadDrivers {
            name: Some(p(0).to_string()),
        }),
        Endpoint::DriverUnload => fwd(R::UnloadDrivers {
            name: Some(p(0).to_string()),
        }),
        Endpoint::Daemons => fwd(R::ListDaemons),
        Endpoint::DaemonAction => fwd(R::DaemonAction {
            name: p(0).to_string(),
            action: parse_daemon_action(body),
        }),
        Endpoint::Config => fwd(R::Config),
        Endpoint::Config2 => fwd(R::Config2),
        Endpoint::StorageGc => fwd(R::RunGc),
        Endpoint::Wakelocks => fwd(R::Wakelocks),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::CommandOp;

    fn fwd(method: &str, target: &str, body: &[u8]) -> CtrlRequest {
        match parse(method, target, body) {
            Ok(Action::Forward(r)) => r,
            other => panic!("{method} {target}: {other:?}"),
        }
    }

    #[test]
    fn containers_and_daemons() {
        assert_eq!(
            fwd("PUT", "/containers/app", br#"{"action":"stop"}"#),
            CtrlRequest::ContainerAction {
                name: "app".into(),
                action: Ok(ContainerAction::Stop)
            }
        );
        let bad = |body: &[u8]| match fwd("PUT", "/containers/app", body) {
            CtrlRequest::ContainerAction { action, .. } => action.unwrap_err(),
            other => panic!("{other:?}"),
        };
        assert_eq!(bad(b""), ApiError::missing_action());
        assert_eq!(bad(b"{"), ApiError::invalid_json());
        assert_eq!(bad(br#"{"action":"jump"}"#), ApiError::invalid_action());
        assert_eq!(
            parse("PUT", "/containers/app", &[b' '; 1025]).unwrap_err(),
            ApiError::no_space()
        );
        assert_eq!(
            fwd("PUT", "/daemons/pv-xconnect", br#"{"action":"dance"}"#),
            CtrlRequest::DaemonAction {
                name: "pv-xconnect".into(),
                action: Ok(DaemonAction::None)
            }
        );
    }

    #[test]
    fn signals_and_commands() {
        assert_eq!(
            fwd("POST", "/signal", br#"{"type":"ready","payload":""}"#),
            CtrlRequest::Signal(Signal {
                kind: SignalType::Ready,
                payload: Some(String::new())
            })
        );
        assert_eq!(
            parse("POST", "/signal", b"").unwrap_err(),
            ApiError::signal_bad_format()
        );
        assert!(matches!(
            fwd("POST", "/commands", br#"{"op":"RUN_GC","payload":""}"#),
            CtrlRequest::Command(Command {
                op: CommandOp::RunGc,
                ..
            })
        ));
        assert_eq!(
            parse("POST", "/commands", &[b'x'; 4097]).unwrap_err(),
            ApiError::no_space()
        );
    }

    #[test]
    fn objects() {
        let sha = "a".repeat(64);
        assert_eq!(
            parse("GET", &format!("/objects/{sha}"), b"").unwrap(),
            Action::SendObject {
                id: sha.parse().unwrap()
            }
        );
        assert_eq!(
            parse("GET", "/objects/abc", b"").unwrap_err(),
            ApiError::bad_object_name()
        );
        assert_eq!(
            parse("PUT", &format!("/objects/{}", "Z".repeat(64)), b"").unwrap(),
            Action::ReceiveObject { id: None }
        );
    }

    #[test]
    fn steps() {
        assert_eq!(
            fwd("GET", "/steps/current", b""),
            CtrlRequest::GetStep {
                rev: "current".into()
            }
        );
        assert_eq!(
            fwd("GET", "/steps/locals/t1/progress", b""),
            CtrlRequest::GetStepProgress {
                rev: "locals/t1".into()
            }
        );
        assert_eq!(
            fwd("PUT", "/steps/locals/t1", b"{}"),
            CtrlRequest::PutStep {
                rev: "locals/t1".into(),
                json: b"{}".to_vec()
            }
        );
        let long = "n".repeat(65);
        assert_eq!(
            parse("PUT", &format!("/steps/locals/{long}"), b"{}").unwrap_err(),
            ApiError::non_local_step_name()
        );
        assert!(parse("PUT", &format!("/steps/locals/{}", "n".repeat(64)), b"{}").is_ok());
        assert_eq!(
            parse("PUT", "/steps/locals/a/b", b"{}")
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            parse("GET", "/steps/../progress", b"").unwrap_err(),
            ApiError::resource_missing()
        );
        // reads and commit messages follow the same name rule as the PUT
        for bad in ["/steps/abc", &format!("/steps/locals/{long}/progress")] {
            assert_eq!(
                parse("GET", bad, b"").unwrap_err(),
                ApiError::resource_missing(),
                "{bad}"
            );
        }
        assert_eq!(
            parse("PUT", &format!("/steps/locals/{long}/commitmsg"), b"m").unwrap_err(),
            ApiError::bad_step_name()
        );
        assert!(parse("GET", "/steps/current", b"").is_ok());
        assert!(parse("PUT", "/steps/current/commitmsg", b"m").is_ok());
        assert_eq!(
            parse("PUT", "/steps/0/commitmsg", &[b'm'; 257]).unwrap_err(),
            ApiError::no_space()
        );
    }

    #[test]
    fn metadata() {
        assert_eq!(
            fwd("PUT", "/device-meta/foo.bar", b"x"),
            CtrlRequest::PutMeta {
                kind: MetaKind::Device,
                key: "foo.bar".into(),
                value: "x".into()
            }
        );
        assert_eq!(
            parse("PUT", "/user-meta/k", b"").unwrap_err(),
            ApiError::meta_not_written(MetaKind::User, 400)
        );
        assert_eq!(
            parse("DELETE", "/user-meta/..", b"").unwrap_err(),
            ApiError::meta_not_found(MetaKind::User)
        );
        assert_eq!(
            parse("PUT", "/user-meta/k", &[b'v'; 4097]).unwrap_err(),
            ApiError::no_space()
        );
    }
}
