//! The two JSON views of the configuration served by the control socket.

use std::fmt::Write;

use crate::config::Config;

/// Append `s` as a JSON string literal.
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl Config {
    /// `GET /config`: an object keyed by each key's legacy alias (keys
    /// without an alias are left out), values typed: booleans as JSON
    /// booleans, integers, durations (seconds), enums (their index) and
    /// log outputs (their bit mask) as numbers, strings as strings or
    /// `null` when unset.
    pub fn to_legacy_json(&self) -> String {
        let mut out = String::from("{");
        let mut first = true;
        for (def, value, _) in self.entries() {
            let Some(alias) = def.primary_alias() else {
                continue;
            };
            if !first {
                out.push(',');
            }
            first = false;
            write_string(&mut out, alias);
            out.push(':');
            value.write_json(&mut out);
        }
        out.push('}');
        out
    }

    /// `GET /config2`: an array of `{"key","value","modified"}` objects, one
    /// per key in table order, value always a string and `modified` the
    /// name of the level that set it.
    pub fn to_complete_json(&self) -> String {
        let mut out = String::from("[");
        for (i, (def, value, level)) in self.entries().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"key\":");
            write_string(&mut out, def.name);
            out.push_str(",\"value\":");
            write_string(&mut out, &value.display_string());
            out.push_str(",\"modified\":");
            write_string(&mut out, level.as_str());
            out.push('}');
        }
        out.push(']');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        let mut s = String::new();
        write_string(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, r#""a\"b\\c\nd\u0001é""#);
    }
}
