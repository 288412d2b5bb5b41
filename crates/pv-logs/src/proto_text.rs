//! The structured text messages of `pv-ctrl-log`: JSON
//! `{"version":"0","level":"INFO","src":"...","message":"..."}` and
//! key-value `level=INFO src=app message="some text"`. Both need level,
//! source and message; the platform comes from the sender's cgroup.

use serde_json::Value;

use crate::record::{LogRecord, Payload};
use crate::Level;

/// Why a text message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Not syslog, JSON or key-value.
    #[error("message in an unknown format")]
    UnknownFormat,
    /// A JSON message without `"version":"0"`.
    #[error("json message without version 0")]
    BadVersion,
    /// Level missing or not a level name.
    #[error("message with a missing or unknown level")]
    BadLevel,
    /// `src` missing.
    #[error("message without src")]
    MissingSource,
    /// `message` missing.
    #[error("message without message")]
    MissingMessage,
}

/// Parse a JSON message. `Err(UnknownFormat)` if `text` is not a JSON object.
pub fn parse_json(text: &str, platform: &str) -> Result<LogRecord, TextError> {
    let v: Value = serde_json::from_str(text).map_err(|_| TextError::UnknownFormat)?;
    let obj = v.as_object().ok_or(TextError::UnknownFormat)?;
    let version_ok = match obj.get("version") {
        Some(Value::String(s)) => s.starts_with('0'),
        Some(Value::Number(n)) => n.to_string() == "0",
        _ => false,
    };
    if !version_ok {
        return Err(TextError::BadVersion);
    }
    let level = obj
        .get("level")
        .and_then(Value::as_str)
        .and_then(Level::from_name)
        .ok_or(TextError::BadLevel)?;
    let src = obj
        .get("src")
        .map(scalar_text)
        .ok_or(TextError::MissingSource)?;
    let msg = obj
        .get("message")
        .map(scalar_text)
        .ok_or(TextError::MissingMessage)?;
    Ok(LogRecord::now(
        level,
        platform,
        &src,
        msg.into_bytes(),
        Payload::Line,
    ))
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Split `key=value key="quoted value"` pairs; `None` if the text is not a
/// well-formed list of pairs.
fn kv_pairs(text: &str) -> Option<Vec<(&str, String)>> {
    let mut out = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let key_end = rest.find(|c: char| c == '=' || c.is_whitespace())?;
        let key = &rest[..key_end];
        if key.is_empty() {
            return None;
        }
        rest = rest[key_end..].trim_start().strip_prefix('=')?.trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut val = String::new();
            let mut chars = quoted.char_indices();
            let mut close = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, e @ ('"' | '\\'))) => val.push(e),
                        Some((_, e)) => {
                            val.push('\\');
                            val.push(e);
                        }
                        None => val.push('\\'),
                    },
                    '"' => {
                        close = Some(i);
                        break;
                    }
                    c => val.push(c),
                }
            }
            let close = close?;
            value = val;
            rest = &quoted[close + 1..];
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            if end == 0 {
                return None;
            }
            value = rest[..end].to_string();
            rest = &rest[end..];
        }
        out.push((key, value));
        rest = rest.trim_start();
    }
    Some(out)
}

/// Parse a key-value message. `Err(UnknownFormat)` unless it is a list of
/// pairs containing `level`, `src` and `message`.
pub fn parse_kv(text: &str, platform: &str) -> Result<LogRecord, TextError> {
    let pairs = kv_pairs(text).ok_or(TextError::UnknownFormat)?;
    let get = |k: &str| {
        pairs
            .iter()
            .rev()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v)
    };
    let (Some(level), Some(src), Some(msg)) = (get("level"), get("src"), get("message")) else {
        return Err(TextError::UnknownFormat);
    };
    let level = Level::from_name(level).ok_or(TextError::BadLevel)?;
    if msg.is_empty() {
        return Err(TextError::MissingMessage);
    }
    Ok(LogRecord::now(
        level,
        platform,
        src,
        msg.clone().into_bytes(),
        Payload::Line,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json() {
        let r = parse_json(
            r#"{"version":"0","level":"warn","src":"db","message":"disk \"low\"\nnow"}"#,
            "app",
        )
        .unwrap();
        assert_eq!(r.level, Level::Warn);
        assert_eq!(r.platform, "app");
        assert_eq!(r.source, "db");
        assert_eq!(r.text(), "disk \"low\"\nnow");
        assert_eq!(
            parse_json(
                r#"{"version":"1","level":"INFO","src":"a","message":"m"}"#,
                "p"
            ),
            Err(TextError::BadVersion)
        );
        assert_eq!(
            parse_json(
                r#"{"version":"0","level":"LOUD","src":"a","message":"m"}"#,
                "p"
            ),
            Err(TextError::BadLevel)
        );
        assert_eq!(
            parse_json(r#"{"version":"0","level":"INFO","message":"m"}"#, "p"),
            Err(TextError::MissingSource)
        );
        assert_eq!(
            parse_json(r#"{"version":"0","level":"INFO","src":"a"}"#, "p"),
            Err(TextError::MissingMessage)
        );
        assert_eq!(parse_json("[1,2]", "p"), Err(TextError::UnknownFormat));
        assert_eq!(parse_json("plain", "p"), Err(TextError::UnknownFormat));
    }

    #[test]
    fn kv() {
        let r = parse_kv(
            r#"level=ERROR src=net message="link \"eth0\" down" x=1"#,
            "app",
        )
        .unwrap();
        assert_eq!(r.level, Level::Error);
        assert_eq!(r.source, "net");
        assert_eq!(r.text(), "link \"eth0\" down");
        let r = parse_kv("message=hi  level = debug src=s", "p").unwrap();
        assert_eq!(r.level, Level::Debug);
        assert_eq!(r.text(), "hi");
        assert_eq!(
            parse_kv("level=INFO src=a", "p"),
            Err(TextError::UnknownFormat)
        );
        assert_eq!(parse_kv("hello world", "p"), Err(TextError::UnknownFormat));
        assert_eq!(
            parse_kv(r#"level=INFO src=a message="open"#, "p"),
            Err(TextError::UnknownFormat)
        );
        assert_eq!(
            parse_kv("level=LOUD src=a message=m", "p"),
            Err(TextError::BadLevel)
        );
    }
}
