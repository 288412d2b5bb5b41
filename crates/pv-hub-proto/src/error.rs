//! What a hub call can fail with, the same on both sides of the agent's
//! socket: what callers decide on (the HTTP status, a refused token, a
//! request that did not get through) survives the trip.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum Error {
    /// 401: the token is missing or expired; log in again.
    #[error("{0}: not authorized")]
    Unauthorized(String),
    #[error("{what}: HTTP {status}: {body}")]
    Status {
        what: String,
        status: u16,
        body: String,
    },
    /// No connection, a timeout, a cut answer.
    #[error("{0}: {1}")]
    Http(String, String),
    #[error("{0}: bad answer: {1}")]
    Answer(String, String),
    #[error("{op} {path}: {message}")]
    Io {
        op: String,
        path: PathBuf,
        message: String,
    },
    #[error("hub address {0}: {1}")]
    Config(String, String),
    /// The agent process could not be started, died or broke the
    /// protocol during the call: the request may not have reached the hub.
    #[error("{0}: hub agent: {1}")]
    Agent(String, String),
}

impl Error {
    /// The HTTP status of a refused request.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Unauthorized(_) => Some(401),
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The request did not get through: no connection, a timeout, a cut
    /// answer, the hub failing it (5xx), or the agent gone. An answer of
    /// the hub that refuses the request (4xx, a bad body) is not one.
    pub fn is_communication_failure(&self) -> bool {
        match self {
            Error::Http(..) | Error::Agent(..) => true,
            Error::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind through JSON and back: equal, same status, same class.
    #[test]
    fn errors_keep_what_callers_check_across_the_wire() {
        let all = [
            (Error::Unauthorized("poll".into()), Some(401), false),
            (
                Error::Status {
                    what: "poll".into(),
                    status: 503,
                    body: "busy".into(),
                },
                Some(503),
                true,
            ),
            (
                Error::Status {
                    what: "poll".into(),
                    status: 404,
                    body: String::new(),
                },
                Some(404),
                false,
            ),
            (Error::Http("poll".into(), "refused".into()), None, true),
            (Error::Answer("poll".into(), "not json".into()), None, false),
            (
                Error::Io {
                    op: "open".into(),
                    path: "/s/x".into(),
                    message: "gone".into(),
                },
                None,
                false,
            ),
            (Error::Config("h".into(), "no CA".into()), None, false),
            (Error::Agent("poll".into(), "died".into()), None, true),
        ];
        for (e, status, comm) in all {
            let back: Error = serde_json::from_slice(&serde_json::to_vec(&e).unwrap()).unwrap();
            assert_eq!(back, e);
            assert_eq!(back.to_string(), e.to_string());
            assert_eq!(back.status(), status, "{e}");
            assert_eq!(back.is_communication_failure(), comm, "{e}");
        }
        assert!(matches!(
            serde_json::from_slice::<Error>(
                &serde_json::to_vec(&Error::Unauthorized("x".into())).unwrap()
            )
            .unwrap(),
            Error::Unauthorized(_)
        ));
    }
}
