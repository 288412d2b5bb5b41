//! The frames between the runtime and its agent: a 4-byte big-endian
//! length, then that many bytes of JSON. Requests carry an id, the answer
//! names it, so calls of several threads are in flight at once and answer
//! in any order; a download sends [`Reply::Progress`] frames before its
//! [`Reply::Done`].

use std::io::{Read, Write};

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Endpoint, Error};

/// Frames larger than this are refused (a hub answer is at most 2 MiB, a
/// log batch 256 KiB; a state is a few MiB at most).
pub const MAX_FRAME: usize = 32 << 20;

/// One call of the runtime.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub id: u64,
    /// The bearer token the call is made with (the runtime keeps it, so
    /// that a new agent goes on with it).
    pub token: Option<String>,
    pub call: Call,
}

/// What the agent is asked to do. Files are paths relative to the
/// storage directory the agent was started with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "kebab-case")]
pub enum Call {
    /// The first request of a connection: the hub to talk to.
    Init {
        endpoint: Endpoint,
    },
    Register {
        autotok: Option<String>,
    },
    /// Answers the token.
    Login {
        prn: String,
        secret: String,
    },
    Device {
        id: String,
    },
    HasTrail,
    Announce {
        name: String,
        sha: String,
        size: u64,
    },
    Upload {
        path: String,
        file: String,
    },
    CreateTrail {
        state: String,
    },
    Poll {
        id: String,
    },
    Step {
        id: String,
        rev: i64,
    },
    Object {
        sha: String,
    },
    /// Append the blob from `offset` on to `file`; answers where the body
    /// really started.
    Download {
        url: String,
        offset: u64,
        file: String,
    },
    PutProgress {
        id: String,
        rev: String,
        body: Value,
    },
    PutDeviceMeta {
        id: String,
        meta: Map<String, Value>,
    },
    UserMeta {
        id: String,
    },
    PostLogs {
        entries: Vec<Value>,
    },
}

/// The agent's frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "kebab-case")]
pub enum Reply {
    /// Bytes of a download written since the last report.
    Progress { id: u64, bytes: u64 },
    /// The call's end: its result and how many requests of it did not get
    /// through (no connection, a timeout, a 5xx answer).
    Done {
        id: u64,
        failures: u64,
        result: Result<Value, Error>,
    },
}

impl Reply {
    pub fn id(&self) -> u64 {
        match self {
            Reply::Progress { id, .. } | Reply::Done { id, .. } => *id,
        }
    }
}

/// Write one frame.
pub fn write_frame<T: Serialize>(w: &mut impl Write, v: &T) -> std::io::Result<()> {
    let body = serde_json::to_vec(v).map_err(std::io::Error::other)?;
    if body.len() > MAX_FRAME {
        return Err(std::io::Error::other(format!(
            "frame of {} bytes, over {MAX_FRAME}",
            body.len()
        )));
    }
    let mut buf = Vec::with_capacity(4 + body.len());
    buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
    buf.extend_from_slice(&body);
    w.write_all(&buf)?;
    w.flush()
}

/// Read one frame; `None` at a clean end of the stream (between frames).
pub fn read_frame<T: DeserializeOwned>(r: &mut impl Read) -> std::io::Result<Option<T>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("frame of {len} bytes announced, over {MAX_FRAME}"),
        ));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Announce, Step};
    use serde_json::json;

    #[test]
    fn frames_round_trip_back_to_back_and_end_cleanly() {
        let reqs = vec![
            Request {
                id: 1,
                token: Some("t".into()),
                call: Call::Download {
                    url: "http://h/local-s3/x".into(),
                    offset: 7,
                    file: "cache/hub-downloads/x.part".into(),
                },
            },
            Request {
                id: 2,
                token: None,
                call: Call::PostLogs {
                    entries: vec![json!({"msg": "é\n"})],
                },
            },
            Request {
                id: 3,
                token: None,
                call: Call::HasTrail,
            },
        ];
        let mut buf = Vec::new();
        for r in &reqs {
            write_frame(&mut buf, r).unwrap();
        }
        let mut rd = &buf[..];
        for r in &reqs {
            assert_eq!(read_frame::<Request>(&mut rd).unwrap().as_ref(), Some(r));
        }
        assert_eq!(read_frame::<Request>(&mut rd).unwrap(), None);
    }

    #[test]
    fn a_cut_or_oversized_or_garbled_frame_is_an_error() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &Reply::Progress { id: 9, bytes: 4096 }).unwrap();
        for cut in [2, buf.len() - 1] {
            let e = read_frame::<Reply>(&mut &buf[..cut]).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "cut at {cut}");
        }
        let mut big = ((MAX_FRAME + 1) as u32).to_be_bytes().to_vec();
        big.extend_from_slice(b"{}");
        let e = read_frame::<Reply>(&mut &big[..]).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        let mut bad = 5u32.to_be_bytes().to_vec();
        bad.extend_from_slice(b"{nope");
        let e = read_frame::<Reply>(&mut &bad[..]).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        let huge = "x".repeat(MAX_FRAME);
        assert!(write_frame(&mut Vec::new(), &huge).is_err());
    }

    #[test]
    fn answers_keep_the_hub_json_shapes() {
        let step: Step = serde_json::from_value(json!({
            "rev": 4, "state": {"a": 1}, "progress": {"status": "NEW"},
            "commit-msg": "m", "unknown": true
        }))
        .unwrap();
        let back: Step = serde_json::from_value(serde_json::to_value(&step).unwrap()).unwrap();
        assert_eq!(back.rev, 4);
        assert_eq!(back.status(), "NEW");
        assert_eq!(back.commit_msg, "m");
        assert_eq!(back.state, json!({"a": 1}));
        let done = Reply::Done {
            id: 5,
            failures: 1,
            result: Ok(serde_json::to_value(Announce::Upload("/local-s3/t".into())).unwrap()),
        };
        let mut buf = Vec::new();
        write_frame(&mut buf, &done).unwrap();
        assert_eq!(read_frame::<Reply>(&mut &buf[..]).unwrap(), Some(done));
    }
}
