//! The binary `pv-ctrl-log` message: `{int32 code; int32 len; char buf[len]}`
//! in host byte order. Code 0 carries a legacy log line
//! `level\0platform\0source\0data` (level as a decimal string); code 256
//! carries an internal command as JSON `{"code":N,"data":"..."}`.

use crate::record::{LogRecord, Payload};
use crate::Level;

/// Header code of a legacy log message.
pub const CODE_LEGACY: i32 = 0;
/// Header code of an internal command.
pub const CODE_COMMAND: i32 = 256;
/// Size of the binary header.
pub const HEADER_LEN: usize = 8;

/// An internal command sent by the runtime over `pv-ctrl-log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `code` 1: stop the server.
    Exit,
    /// `code` 2: start collecting ERROR/FATAL lines for revision `data`.
    StartUpdate(String),
    /// `code` 3: finish the update log (`.pv/logs.tmp` → `.pv/logs`).
    StopUpdate,
}

impl Command {
    fn code_and_data(&self) -> (i64, &str) {
        match self {
            Command::Exit => (1, ""),
            Command::StartUpdate(rev) => (2, rev.as_str()),
            Command::StopUpdate => (3, ""),
        }
    }
}

/// Why a binary message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinaryError {
    /// The header code is neither 0 nor 256.
    #[error("unknown binary message code {0}")]
    UnknownCode(i32),
    /// The legacy body lacks one of its NUL separators.
    #[error("legacy message without level/platform/source separators")]
    MissingSeparator,
    /// The level field is not a number between 0 and 6.
    #[error("legacy message with invalid level {0:?}")]
    BadLevel(String),
    /// The command body is not the expected JSON or has an unknown code.
    #[error("invalid command message: {0}")]
    BadCommand(String),
}

/// Read the header of a binary message at the start of `buf`:
/// `(code, len)`, or `None` if fewer than 8 bytes are there.
pub fn read_header(buf: &[u8]) -> Option<(i32, i64)> {
    let code = i32::from_ne_bytes(buf.get(0..4)?.try_into().ok()?);
    let len = i32::from_ne_bytes(buf.get(4..8)?.try_into().ok()?);
    Some((code, i64::from(len)))
}

/// Parse the body of a legacy (code 0) message.
pub fn parse_legacy(body: &[u8]) -> Result<LogRecord, BinaryError> {
    let mut parts = body.splitn(4, |b| *b == 0);
    let level = parts.next().ok_or(BinaryError::MissingSeparator)?;
    let platform = parts.next().ok_or(BinaryError::MissingSeparator)?;
    let source = parts.next().ok_or(BinaryError::MissingSeparator)?;
    let data = parts.next().ok_or(BinaryError::MissingSeparator)?;
    let level_txt = String::from_utf8_lossy(level).into_owned();
    let level = leading_int(&level_txt)
        .and_then(Level::from_number)
        .ok_or(BinaryError::BadLevel(level_txt))?;
    let end = data.iter().rposition(|b| *b != 0).map_or(0, |p| p + 1);
    Ok(LogRecord::now(
        level,
        &String::from_utf8_lossy(platform),
        &String::from_utf8_lossy(source),
        data[..end].to_vec(),
        Payload::Raw,
    ))
}

/// Parse the body of a command (code 256) message.
pub fn parse_command(body: &[u8]) -> Result<Command, BinaryError> {
    let end = body.iter().rposition(|b| *b != 0).map_or(0, |p| p + 1);
    let v: serde_json::Value =
        serde_json::from_slice(&body[..end]).map_err(|e| BinaryError::BadCommand(e.to_string()))?;
    let code = v
        .get("code")
        .and_then(|c| c.as_i64().or_else(|| c.as_str()?.parse().ok()))
        .ok_or_else(|| BinaryError::BadCommand("no code".into()))?;
    let data = v.get("data").and_then(|d| d.as_str()).unwrap_or("");
    match code {
        1 => Ok(Command::Exit),
        2 => Ok(Command::StartUpdate(data.to_string())),
        3 => Ok(Command::StopUpdate),
        n => Err(BinaryError::BadCommand(format!("unknown command code {n}"))),
    }
}

/// Encode a legacy log message as a client would send it.
pub fn encode_legacy(level: Level, platform: &str, source: &str, msg: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(msg.len() + platform.len() + source.len() + 8);
    body.extend_from_slice(level.number().to_string().as_bytes());
    body.push(0);
    body.extend_from_slice(platform.as_bytes());
    body.push(0);
    body.extend_from_slice(source.as_bytes());
    body.push(0);
    body.extend_from_slice(msg);
    frame(CODE_LEGACY, &body)
}

/// Encode an internal command as the runtime would send it.
pub fn encode_command(cmd: &Command) -> Vec<u8> {
    let (code, data) = cmd.code_and_data();
    let body = serde_json::json!({ "code": code, "data": data }).to_string();
    frame(CODE_COMMAND, body.as_bytes())
}

fn frame(code: i32, body: &[u8]) -> Vec<u8> {
    let len = i32::try_from(body.len()).unwrap_or(i32::MAX);
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&code.to_ne_bytes());
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(body);
    out
}

/// `sscanf("%d")`-like: optional blanks and sign, then digits.
fn leading_int(s: &str) -> Option<i64> {
    let t = s.trim_start();
    let (neg, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let n: i64 = rest[..end].parse().ok()?;
    Some(if neg { -n } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_round_trip() {
        let msg = encode_legacy(Level::Warn, "app", "daemon", b"hello\n");
        let (code, len) = read_header(&msg).unwrap();
        assert_eq!(code, CODE_LEGACY);
        assert_eq!(len as usize, msg.len() - HEADER_LEN);
        let rec = parse_legacy(&msg[HEADER_LEN..]).unwrap();
        assert_eq!(rec.level, Level::Warn);
        assert_eq!(rec.platform, "app");
        assert_eq!(rec.source, "daemon");
        assert_eq!(rec.data, b"hello\n");
        assert_eq!(rec.payload, Payload::Raw);
    }

    #[test]
    fn legacy_trailing_nul_and_errors() {
        let rec = parse_legacy(b"3\0p\0s\0text\0\0").unwrap();
        assert_eq!(rec.data, b"text");
        assert_eq!(parse_legacy(b"3\0p\0s"), Err(BinaryError::MissingSeparator));
        assert!(matches!(
            parse_legacy(b"x\0p\0s\0m"),
            Err(BinaryError::BadLevel(_))
        ));
        assert!(matches!(
            parse_legacy(b"9\0p\0s\0m"),
            Err(BinaryError::BadLevel(_))
        ));
    }

    #[test]
    fn commands() {
        for cmd in [
            Command::Exit,
            Command::StartUpdate("locals/t1".into()),
            Command::StopUpdate,
        ] {
            let enc = encode_command(&cmd);
            assert_eq!(read_header(&enc).unwrap().0, CODE_COMMAND);
            assert_eq!(parse_command(&enc[HEADER_LEN..]).unwrap(), cmd);
        }
        assert!(parse_command(br#"{"code":9}"#).is_err());
        assert!(parse_command(b"nope").is_err());
    }
}
