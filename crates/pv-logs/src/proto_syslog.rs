//! Syslog messages on `pv-ctrl-log` (and `/dev/log`): RFC 5424
//! (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG`) and RFC 3164
//! (`<PRI>Mmm dd hh:mm:ss HOST TAG[pid]: MSG`). The severity maps to a level,
//! the app name / tag becomes the source.

use chrono::{DateTime, Datelike, Local, NaiveDate, TimeZone};

use crate::record::{epoch_now, LogRecord, Payload};
use crate::Level;

/// Source used when a message names no application.
pub const UNKNOWN_APP: &str = "unknown-app";

/// Which syslog flavour a message looks like, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogKind {
    /// `<PRI>1 ...`
    Rfc5424,
    /// `<PRI>...`
    Rfc3164,
}

/// Detect `<PRI>` (1–3 digits) at the start of `msg`.
pub fn detect(msg: &str) -> Option<SyslogKind> {
    let (_, rest) = split_pri(msg)?;
    if rest.starts_with("1 ") {
        Some(SyslogKind::Rfc5424)
    } else {
        Some(SyslogKind::Rfc3164)
    }
}

fn split_pri(msg: &str) -> Option<(u8, &str)> {
    let rest = msg.strip_prefix('<')?;
    let close = rest.find('>')?;
    let digits = &rest[..close];
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let pri: u16 = digits.parse().ok()?;
    if pri > 191 {
        return None;
    }
    Some((pri as u8, &rest[close + 1..]))
}

/// Parse a syslog message sent by `platform`.
pub fn parse(msg: &str, platform: &str) -> Option<LogRecord> {
    let (pri, rest) = split_pri(msg)?;
    let level = Level::from_syslog_severity(pri & 0x07);
    let (time, app, text) = if let Some(rest5424) = rest.strip_prefix("1 ") {
        parse_5424(rest5424)?
    } else {
        parse_3164(rest)
    };
    let mut rec = LogRecord::now(
        level,
        platform,
        app,
        text.as_bytes().to_vec(),
        Payload::Line,
    );
    rec.time = time;
    Some(rec)
}

/// `TIMESTAMP HOST APP PROCID MSGID SD [MSG]`
fn parse_5424(rest: &str) -> Option<(i64, &str, &str)> {
    let mut fields = Vec::with_capacity(5);
    let mut cur = rest;
    for _ in 0..5 {
        let sp = cur.find(' ')?;
        fields.push(&cur[..sp]);
        cur = &cur[sp + 1..];
    }
    let time = match fields[0] {
        "-" => epoch_now(),
        ts => DateTime::parse_from_rfc3339(ts).ok()?.timestamp(),
    };
    let app = match fields[2] {
        "-" | "" => UNKNOWN_APP,
        a => a,
    };
    let after_sd = skip_structured_data(cur)?;
    let text = after_sd.strip_prefix(' ').unwrap_or(after_sd);
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    Some((time, app, text))
}

/// Skip `-` or a run of `[id k="v" ...]` blocks; `None` if unterminated.
fn skip_structured_data(s: &str) -> Option<&str> {
    if let Some(rest) = s.strip_prefix('-') {
        return Some(rest);
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    while bytes.get(i) == Some(&b'[') {
        let mut in_quotes = false;
        i += 1;
        loop {
            match *bytes.get(i)? {
                b'\\' => i += 1,
                b'"' => in_quotes = !in_quotes,
                b']' if !in_quotes => break,
                _ => {}
            }
            i += 1;
        }
        i += 1;
    }
    if i == 0 {
        return None;
    }
    Some(&s[i..])
}

/// `Mmm dd hh:mm:ss [HOST ]TAG[pid]: MSG`, lenient: a missing timestamp
/// means "now" and a missing `:` means no tag.
fn parse_3164(rest: &str) -> (i64, &str, &str) {
    let (time, body) = match parse_3164_time(rest) {
        Some((t, len)) => (t, rest[len..].strip_prefix(' ').unwrap_or(&rest[len..])),
        None => (epoch_now(), rest),
    };
    let mut body = body;
    if let (Some(sp), Some(colon)) = (body.find(' '), body.find(':')) {
        if sp < colon {
            body = &body[sp + 1..];
        }
    }
    match body.find(':') {
        None => (time, UNKNOWN_APP, body),
        Some(colon) => {
            let tag = &body[..colon];
            let tag = tag.split('[').next().unwrap_or(tag);
            let msg = &body[colon + 1..];
            let msg = msg.strip_prefix(' ').unwrap_or(msg);
            let tag = if tag.is_empty() { UNKNOWN_APP } else { tag };
            (time, tag, msg)
        }
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Mmm dd hh:mm:ss` (day may be space-padded), local time of this year.
/// Returns the epoch seconds and the length consumed.
fn parse_3164_time(s: &str) -> Option<(i64, usize)> {
    let head = s.get(..15)?;
    let month = MONTHS.iter().position(|m| head.starts_with(m))? as u32 + 1;
    if head.as_bytes()[3] != b' ' {
        return None;
    }
    let day: u32 = head[4..6].trim().parse().ok()?;
    let b = head.as_bytes();
    if b[6] != b' ' || b[9] != b':' || b[12] != b':' {
        return None;
    }
    let h: u32 = head[7..9].parse().ok()?;
    let m: u32 = head[10..12].parse().ok()?;
    let sec: u32 = head[13..15].parse().ok()?;
    let year = Local::now().year();
    let naive = NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(h, m, sec)?;
    let t = Local.from_local_datetime(&naive).earliest()?.timestamp();
    Some((t, 15))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects() {
        assert_eq!(
            detect("<13>1 2020-01-01T00:00:00Z h a - - - m"),
            Some(SyslogKind::Rfc5424)
        );
        assert_eq!(
            detect("<13>Jan  5 10:00:00 a: m"),
            Some(SyslogKind::Rfc3164)
        );
        assert_eq!(detect("<abc>x"), None);
        assert_eq!(detect("<1234>x"), None);
        assert_eq!(detect("<200>x"), None);
        assert_eq!(detect("hello"), None);
    }

    #[test]
    fn rfc5424() {
        let r = parse(
            "<11>1 2023-10-11T22:14:15.003Z host myapp 123 ID47 [ex@1 a=\"x]y\"] hello world",
            "app1",
        )
        .unwrap();
        assert_eq!(r.level, Level::Error);
        assert_eq!(r.platform, "app1");
        assert_eq!(r.source, "myapp");
        assert_eq!(r.text(), "hello world");
        assert_eq!(r.time, 1697062455);
        let r = parse("<14>1 - - - - - -", "p").unwrap();
        assert_eq!(r.source, UNKNOWN_APP);
        assert_eq!(r.text(), "");
        assert_eq!(r.level, Level::Info);
        assert!(parse("<14>1 notatime h a - - - m", "p").is_none());
        assert!(parse("<14>1 - h a", "p").is_none());
        assert!(parse("<14>1 - h a - - [unterminated", "p").is_none());
    }

    #[test]
    fn rfc3164() {
        let r = parse("<12>Jan  5 10:00:00 myhost sshd[99]: accepted key", "a").unwrap();
        assert_eq!(r.level, Level::Warn);
        assert_eq!(r.source, "sshd");
        assert_eq!(r.text(), "accepted key");
        let r = parse("<15>Feb 10 01:02:03 cron: ran job: ok", "a").unwrap();
        assert_eq!(r.level, Level::Debug);
        assert_eq!(r.source, "cron");
        assert_eq!(r.text(), "ran job: ok");
        let r = parse("<8>no tag here", "a").unwrap();
        assert_eq!(r.level, Level::Fatal);
        assert_eq!(r.source, UNKNOWN_APP);
        assert_eq!(r.text(), "no tag here");
        let r = parse("<13>tool: text", "a").unwrap();
        assert_eq!(r.source, "tool");
        assert_eq!(r.text(), "text");
    }
}
