//! Errors: [`ApiError`] is an HTTP error answer (`{"Error":"..."}`),
//! [`CtrlError`] a failure to run the server itself.

use std::borrow::Cow;
use std::io;
use std::path::PathBuf;

use crate::request::MetaKind;

/// Starting or stopping the server failed.
#[derive(Debug, thiserror::Error)]
pub enum CtrlError {
    /// A directory the server needs could not be created.
    #[error("create directory {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The socket could not be bound.
    #[error("bind control socket {}: {source}", path.display())]
    Bind {
        /// The socket path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The server thread or its runtime could not be started.
    #[error("start control server thread: {0}")]
    Spawn(#[source] io::Error),
    /// The server thread panicked.
    #[error("control server thread panicked")]
    Panicked,
}

/// An error answer: a status code, the text of `{"Error":"<text>"}` and,
/// for 503, the `Retry-After` seconds.
///
/// The constructors carry the original's exact texts; [`ApiError::new`]
/// builds any other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: u16,
    message: Cow<'static, str>,
    retry_after: Option<u32>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for ApiError {}

macro_rules! fixed {
    ($($(#[$doc:meta])* $name:ident => $status:expr, $text:expr;)*) => {
        $(
            $(#[$doc])*
            pub fn $name() -> ApiError {
                ApiError::new($status, $text)
            }
        )*
    };
}

impl ApiError {
    /// Any status and text.
    pub fn new(status: u16, message: impl Into<Cow<'static, str>>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Add a `Retry-After` header (seconds).
    pub fn with_retry_after(mut self, secs: u32) -> ApiError {
        self.retry_after = Some(secs);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The text inside `{"Error":...}`.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Seconds of `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<u32> {
        self.retry_after
    }

    /// The body: `{"Error":"<text>"}` with the text JSON-escaped.
    pub fn body(&self) -> String {
        let text = serde_json::Value::String(self.message.to_string());
        format!("{{\"Error\":{text}}}")
    }

    /// 400 `unknown endpoint: <uri>`.
    pub fn unknown_endpoint(uri: &str) -> ApiError {
        ApiError::new(400, format!("unknown endpoint: {uri}"))
    }

    /// 422 with the verification message of a rejected state JSON, e.g.
    /// `Secureboot: <msg>`, `Parser: State JSON has bad format` or
    /// `Storage: Cannot read state JSON`.
    pub fn step_rejected(message: impl Into<Cow<'static, str>>) -> ApiError {
        ApiError::new(422, message)
    }

    /// 404 `User meta does not exist` / `Device meta does not exist`.
    pub fn meta_not_found(kind: MetaKind) -> ApiError {
        ApiError::new(
            404,
            match kind {
                MetaKind::User => "User meta does not exist",
                MetaKind::Device => "Device meta does not exist",
            },
        )
    }

    /// `Cannot add or update user meta` / `... device meta` with `status`
    /// (400 for an empty value, 500 when the store refuses the write).
    pub fn meta_not_written(kind: MetaKind, status: u16) -> ApiError {
        ApiError::new(
            status,
            match kind {
                MetaKind::User => "Cannot add or update user meta",
                MetaKind::Device => "Cannot add or update device meta",
            },
        )
    }

    /// 500 with any text.
    pub fn internal(message: impl Into<Cow<'static, str>>) -> ApiError {
        ApiError::new(500, message)
    }

    fixed! {
        /// 400 `Method not supported for this endpoint`.
        method_not_supported => 400, "Method not supported for this endpoint";
        /// 403 `Request not sent from a mgmt platform`.
        not_mgmt => 403, "Request not sent from a mgmt platform";
        /// 500 `Internal Error`: the caller's pid maps to no known container.
        unknown_caller => 500, "Internal Error";
        /// 507 `Not enough disk space available` (also: body over its cap).
        no_space => 507, "Not enough disk space available";
        /// 400: a `Host` header other than `localhost`.
        host_not_accepted => 400, "Host not accepted: only localhost is served";
        /// 400 `Request has bad object name` (also: object not present).
        bad_object_name => 400, "Request has bad object name";
        /// 422 `Object has bad checksum`.
        bad_checksum => 422, "Object has bad checksum";
        /// 404 `Resource does not exist`: no such step or progress file.
        resource_missing => 404, "Resource does not exist";
        /// 400 `Request has bad step name`.
        bad_step_name => 400, "Request has bad step name";
        /// 400 `Request has bas step name` (sic): a step name that is not
        /// `locals/<name>` with at most 64 characters and no further `/`.
        non_local_step_name => 400, "Request has bas step name";
        /// 500 `Cannot write message`: the commit message could not be saved.
        commitmsg_not_written => 500, "Cannot write message";
        /// 400 `No command found`: empty command body.
        no_command => 400, "No command found";
        /// 400 `Command has bad format`.
        command_bad_format => 400, "Command has bad format";
        /// 400 `Signal has bad format`.
        signal_bad_format => 400, "Signal has bad format";
        /// 500 `Signal not expected from this platform`.
        signal_not_expected => 500, "Signal not expected from this platform";
        /// 404 `Container not found`.
        container_not_found => 404, "Container not found";
        /// 403: lifecycle control of a container whose restart policy is
        /// `system`.
        container_protected => 403, "Container has restart_policy 'system' and cannot be stopped/started via API. Only containers with restart_policy 'container' can be controlled.";
        /// 400 `Invalid JSON` (container and daemon actions).
        invalid_json => 400, "Invalid JSON";
        /// 400 `Missing 'action' field`.
        missing_action => 400, "Missing 'action' field";
        /// 400: an action other than start, stop or restart.
        invalid_action => 400, "Invalid action. Use 'start', 'stop', or 'restart'";
        /// 400: `start` from INSTALLED, MOUNTED or BLOCKED.
        cannot_start => 400, "Container must be in STOPPED state to start. Current state does not allow start.";
        /// 400: `restart` from a state that allows neither stop nor start.
        cannot_restart => 400, "Container state does not allow restart.";
        /// 404 `Daemon not found`.
        daemon_not_found => 404, "Daemon not found";
        /// 400 `No driver name`.
        no_driver_name => 400, "No driver name";
        /// 400 `Error loading driver` (one named driver).
        driver_not_loaded => 400, "Error loading driver";
        /// 400 `Error loading drivers` (bulk load).
        drivers_not_loaded => 400, "Error loading drivers";
        /// 500 `Error running garbage collector`.
        gc_failed => 500, "Error running garbage collector";
        /// 409 `Cannot do this operation while on local mode`.
        local_mode => 409, "Cannot do this operation while on local mode";
        /// 409 `Cannot do this operation if device is already claimed`.
        already_claimed => 409, "Cannot do this operation if device is already claimed";
        /// 409: `GO_REMOTE` with `PV_CONTROL_REMOTE=0`.
        remote_disabled => 409, "Cannot do this operation when remote mode is disabled by config";
        /// 409: `DEFER_REBOOT` with the debug shell off.
        no_debug_shell => 409, "Cannot do this operation when debug shell is not active";
        /// 204 `Already in remote mode` (a 204 carries no body on the wire).
        already_remote => 204, "Already in remote mode";
        /// 204 `Device is already unclaimed`.
        already_unclaimed => 204, "Device is already unclaimed";
    }

    /// 503 `Cannot do this operation while update is ongoing`,
    /// `Retry-After: 600`.
    pub fn update_ongoing() -> ApiError {
        ApiError::new(503, "Cannot do this operation while update is ongoing").with_retry_after(600)
    }

    /// 503 `A command is already in progress. Try again`, `Retry-After: 120`:
    /// the one-command slot is taken.
    pub fn command_busy() -> ApiError {
        ApiError::new(503, "A command is already in progress. Try again").with_retry_after(120)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_compact_and_escaped() {
        assert_eq!(
            ApiError::not_mgmt().body(),
            r#"{"Error":"Request not sent from a mgmt platform"}"#
        );
        assert_eq!(
            ApiError::unknown_endpoint("/nope").body(),
            r#"{"Error":"unknown endpoint: /nope"}"#
        );
        assert_eq!(
            ApiError::unknown_endpoint("/a\"b").body(),
            r#"{"Error":"unknown endpoint: /a\"b"}"#
        );
        assert_eq!(ApiError::command_busy().retry_after(), Some(120));
        assert_eq!(ApiError::update_ongoing().retry_after(), Some(600));
        assert_eq!(ApiError::bad_checksum().status(), 422);
    }
}
