//! How a message looks in each output: the runtime's line format, raw
//! container bytes, JSON lines, and the configurable timestamps.

use std::fmt::Write as _;

use chrono::format::{Item, StrftimeItems};
use chrono::{Local, TimeZone};

use crate::record::LogRecord;

/// Resolve a timestamp format name (`golang:<Layout>` or `strftime:<fmt>`)
/// to a strftime pattern.
pub fn strftime_pattern(name: &str) -> Option<&str> {
    if let Some(fmt) = name.strip_prefix("strftime:") {
        return Some(fmt);
    }
    Some(match name {
        "golang:Layout" => "%m/%d %H:%M:%S%p '%y %z",
        "golang:RubyDate" => "%a %b %d %T %z %Y",
        "golang:ANSIC" => "%a %b %e %T %Y",
        "golang:RFC822Z" => "%d %b %y %H:%M %z",
        "golang:RFC1123Z" => "%a, %d %b %Y %T %z",
        _ => return None,
    })
}

/// Format epoch seconds `time` in local time with the named format;
/// `None` if the name or pattern is invalid.
pub fn format_timestamp(time: i64, name: &str) -> Option<String> {
    let pattern = strftime_pattern(name)?;
    let items: Vec<Item<'_>> = StrftimeItems::new(pattern).collect();
    if items.iter().any(|i| matches!(i, Item::Error)) {
        return None;
    }
    let dt = Local.timestamp_opt(time, 0).earliest()?;
    let mut out = String::new();
    write!(out, "{}", dt.format_with_items(items.into_iter())).ok()?;
    (!out.is_empty()).then_some(out)
}

/// The non-empty lines of a message, with kernel-log lines
/// (`prio,seq,usec,...;text`) rewritten as `[   seconds] text` when the
/// source is `dmesg`.
pub fn message_lines(rec: &LogRecord) -> Vec<String> {
    let text = rec.text();
    let dmesg = rec.source.starts_with("dmesg");
    text.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            if dmesg {
                format_kmsg_line(l)
            } else {
                Some(l.to_string())
            }
        })
        .collect()
}

fn format_kmsg_line(line: &str) -> Option<String> {
    let Some((head, text)) = line.split_once(';') else {
        return Some(line.trim_start().to_string());
    };
    if text.is_empty() {
        return None;
    }
    let usec: f64 = head.split(',').nth(2)?.trim().parse().ok()?;
    Some(format!("[{:12.6}] {}", usec / 1_000_000.0, text))
}

/// The runtime's line format, one line per message line:
/// `[<platform>] [<ts>] <tsec> <LEVEL>\t -- [<source>]: <line>\n`
/// (the `[<ts>] ` part only when a timestamp format is set; `--` if it
/// cannot be rendered).
pub fn pv_lines(rec: &LogRecord, tsec: u64, ts_format: Option<&str>) -> String {
    let ts = ts_format.map(|f| format_timestamp(rec.time, f).unwrap_or_else(|| "--".into()));
    let mut out = String::new();
    for line in message_lines(rec) {
        out.push('[');
        out.push_str(&rec.platform);
        out.push_str("] ");
        if let Some(ts) = &ts {
            out.push('[');
            out.push_str(ts);
            out.push_str("] ");
        }
        out.push_str(&format!(
            "{tsec} {}\t -- [{}]: {line}\n",
            rec.level.name(),
            rec.source
        ));
    }
    out
}

/// A container message for its filetree file: the bytes as sent, with a
/// `[<ts>] ` prefix when a timestamp format is set and a newline added for
/// structured (one-line) messages.
pub fn raw_bytes(rec: &LogRecord, ts_format: Option<&str>) -> Vec<u8> {
    if rec.data == b"\r\n" {
        return rec.data.clone();
    }
    let mut out = Vec::with_capacity(rec.data.len() + 32);
    if let Some(f) = ts_format {
        let ts = format_timestamp(rec.time, f).unwrap_or_else(|| "--".into());
        out.extend_from_slice(format!("[{ts}] ").as_bytes());
    }
    out.extend_from_slice(&rec.data);
    if rec.payload == crate::record::Payload::Line {
        out.push(b'\n');
    }
    out
}

/// One JSON object per message line, each followed by `\n`:
/// `{"tsec":N,"tnano":0[,"ts":"..."],"platform":"...","lvl":"...","src":"...","msg":"..."}`.
pub fn json_lines(rec: &LogRecord, tsec: u64, ts_format: Option<&str>) -> String {
    let ts = ts_format.and_then(|f| format_timestamp(rec.time, f));
    let mut out = String::new();
    for line in message_lines(rec) {
        out.push_str(&format!("{{\"tsec\":{tsec},\"tnano\":0,"));
        if let Some(ts) = &ts {
            out.push_str(&format!("\"ts\":{},", pv_json::quote(ts)));
        }
        out.push_str(&format!(
            "\"platform\":{},\"lvl\":{},\"src\":{},\"msg\":{}}}\n",
            pv_json::quote(&rec.platform),
            pv_json::quote(rec.level.name()),
            pv_json::quote(&rec.source),
            pv_json::quote(&line)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Payload;
    use crate::Level;

    fn rec(plat: &str, src: &str, data: &[u8], payload: Payload) -> LogRecord {
        let mut r = LogRecord::now(Level::Info, plat, src, data.to_vec(), payload);
        r.time = 0;
        r
    }

    #[test]
    fn pv_format() {
        let r = rec("pantavisor", "controller", b"one\n\ntwo\n", Payload::Raw);
        assert_eq!(
            pv_lines(&r, 12, None),
            "[pantavisor] 12 INFO\t -- [controller]: one\n[pantavisor] 12 INFO\t -- [controller]: two\n"
        );
        let with_ts = pv_lines(&r, 12, Some("strftime:%Y"));
        assert!(with_ts.starts_with("[pantavisor] [19"), "{with_ts}");
        let bad_ts = pv_lines(&r, 1, Some("golang:Nope"));
        assert!(bad_ts.starts_with("[pantavisor] [--] 1 INFO"), "{bad_ts}");
        assert_eq!(pv_lines(&rec("p", "s", b"", Payload::Raw), 0, None), "");
    }

    #[test]
    fn raw_format() {
        assert_eq!(raw_bytes(&rec("a", "s", b"x", Payload::Raw), None), b"x");
        assert_eq!(raw_bytes(&rec("a", "s", b"x", Payload::Line), None), b"x\n");
        assert_eq!(
            raw_bytes(&rec("a", "s", b"\r\n", Payload::Line), None),
            b"\r\n"
        );
        let t = raw_bytes(&rec("a", "s", b"x", Payload::Raw), Some("bogus"));
        assert_eq!(t, b"[--] x");
    }

    #[test]
    fn json_format() {
        let r = rec("app", "s\"rc", b"a\"b\nc", Payload::Raw);
        assert_eq!(
            json_lines(&r, 5, None),
            "{\"tsec\":5,\"tnano\":0,\"platform\":\"app\",\"lvl\":\"INFO\",\"src\":\"s\\\"rc\",\"msg\":\"a\\\"b\"}\n\
             {\"tsec\":5,\"tnano\":0,\"platform\":\"app\",\"lvl\":\"INFO\",\"src\":\"s\\\"rc\",\"msg\":\"c\"}\n"
        );
        let ts = json_lines(&r, 5, Some("strftime:%s"));
        assert!(ts.contains("\"ts\":\"0\""), "{ts}");
    }

    #[test]
    fn timestamps() {
        for name in [
            "golang:Layout",
            "golang:RubyDate",
            "golang:ANSIC",
            "golang:RFC822Z",
            "golang:RFC1123Z",
            "strftime:%d, %T %Y",
        ] {
            assert!(format_timestamp(1_700_000_000, name).is_some(), "{name}");
        }
        assert!(format_timestamp(0, "strftime:%Q").is_none());
        assert!(format_timestamp(0, "unknown").is_none());
    }

    #[test]
    fn dmesg_lines() {
        let r = rec(
            "pantavisor",
            "dmesg",
            b"6,339,5140900,-;usb 1-1: new device\n",
            Payload::Raw,
        );
        assert_eq!(
            message_lines(&r),
            vec!["[    5.140900] usb 1-1: new device"]
        );
    }
}
