//! One log message on its way to the outputs.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::Level;

/// How the payload is written to a container's filetree file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// Bytes written as they came (legacy binary messages and subscribed
    /// fds): the sender owns the line structure.
    Raw,
    /// One structured message (JSON, key-value, syslog): a newline is added.
    Line,
}

/// A parsed log message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Severity.
    pub level: Level,
    /// Container name, or `pantavisor` for the runtime itself.
    pub platform: String,
    /// Source inside the platform (module, file path, `lxc/console.log`...).
    pub source: String,
    /// The message bytes.
    pub data: Vec<u8>,
    /// How [`LogRecord::data`] is laid out.
    pub payload: Payload,
    /// Wall-clock time of the message, seconds since the epoch.
    pub time: i64,
    /// Monotonic clock seconds when the message was received.
    pub mono: u64,
}

impl LogRecord {
    /// A message stamped now.
    pub fn now(
        level: Level,
        platform: &str,
        source: &str,
        data: Vec<u8>,
        payload: Payload,
    ) -> Self {
        LogRecord {
            level,
            platform: platform.to_string(),
            source: source.to_string(),
            data,
            payload,
            time: epoch_now(),
            mono: monotonic_secs(),
        }
    }

    /// The message as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

/// Seconds since the Unix epoch.
pub fn epoch_now() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// Seconds of the monotonic clock (time since boot on Linux).
pub fn monotonic_secs() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    u64::try_from(ts.tv_sec).unwrap_or(0)
}
