//! Indented JSON in the spellings the original tools print.

use serde_json::Value;

use crate::canonical::write_canonical_string;
use crate::{canonical_number, gofloat::go_float};

/// How strings are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strings {
    /// Canonical: only `"`, `\` and control characters (uppercase `\u00XX`).
    Canonical,
    /// Go `encoding/json`: also `<`, `>`, `&`, U+2028, U+2029; lowercase hex.
    GoHtml,
}

/// How numbers are spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numbers {
    /// Canonical spelling of the exact literal.
    Canonical,
    /// Go's float64 spelling (the value is rounded through `f64`).
    GoFloat,
    /// The literal as it was parsed.
    Literal,
}

/// Output style: indent unit (empty: compact, on one line) and the
/// spelling of strings and numbers.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub indent: &'static str,
    pub strings: Strings,
    pub numbers: Numbers,
}

/// `pvr json`: TAB indent, canonical spellings.
pub const PVR_JSON: Style = Style {
    indent: "\t",
    strings: Strings::Canonical,
    numbers: Numbers::Canonical,
};
/// `pvr diff`: TAB indent, Go escaping, float64 numbers.
pub const PVR_DIFF: Style = Style {
    indent: "\t",
    strings: Strings::GoHtml,
    numbers: Numbers::GoFloat,
};
/// Files written by a plain `pvr checkout`: 4 spaces, Go escaping, canonical numbers.
pub const CHECKOUT: Style = Style {
    indent: "    ",
    strings: Strings::GoHtml,
    numbers: Numbers::Canonical,
};

/// Render `v` in `style`, without a trailing newline.
pub fn to_string(v: &Value, style: Style) -> String {
    let mut out = String::new();
    write_value(&mut out, v, style, 0);
    out
}

fn newline(out: &mut String, style: Style, depth: usize) {
    if style.indent.is_empty() {
        return;
    }
    out.push('\n');
    for _ in 0..depth {
        out.push_str(style.indent);
    }
}

fn write_value(out: &mut String, v: &Value, style: Style, depth: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match style.numbers {
            Numbers::Canonical => out.push_str(&canonical_number(n.as_str())),
            Numbers::GoFloat => out.push_str(&go_float(&canonical_number(n.as_str()))),
            Numbers::Literal => out.push_str(n.as_str()),
        },
        Value::String(s) => write_string(out, s, style.strings),
        Value::Array(a) if a.is_empty() => out.push_str("[]"),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, style, depth + 1);
                write_value(out, x, style, depth + 1);
            }
            newline(out, style, depth);
            out.push(']');
        }
        Value::Object(m) if m.is_empty() => out.push_str("{}"),
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, style, depth + 1);
                write_string(out, k, style.strings);
                out.push_str(if style.indent.is_empty() { ":" } else { ": " });
                write_value(out, x, style, depth + 1);
            }
            newline(out, style, depth);
            out.push('}');
        }
    }
}

fn write_string(out: &mut String, s: &str, strings: Strings) {
    match strings {
        Strings::Canonical => write_canonical_string(out, s),
        Strings::GoHtml => write_go_string(out, s),
    }
}

/// A JSON string as Go's `encoding/json` writes it: `<`, `>`, `&`, U+2028, U+2029
/// and control characters escaped (lowercase `\u00xx`, `\b \t \n \f \r`).
pub fn write_go_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    #[test]
    fn compact_go_form_keeps_literals() {
        let v = parse(br#"{"b":[1.50,{}],"a":"<x>"}"#).unwrap();
        let style = Style {
            indent: "",
            strings: Strings::GoHtml,
            numbers: Numbers::Literal,
        };
        assert_eq!(
            to_string(&v, style),
            r#"{"a":"\u003cx\u003e","b":[1.50,{}]}"#
        );
    }

    #[test]
    fn tab_form_of_nested_values() {
        let v = parse(br#"{"b":{"x":[]},"a":[1,{}],"c":"<\u001f>"}"#).unwrap();
        assert_eq!(
            to_string(&v, PVR_JSON),
            "{\n\t\"a\": [\n\t\t1,\n\t\t{}\n\t],\n\t\"b\": {\n\t\t\"x\": []\n\t},\n\t\"c\": \"<\\u001F>\"\n}"
        );
        assert_eq!(to_string(&v, CHECKOUT).lines().last().unwrap(), "}");
        assert!(to_string(&v, CHECKOUT).contains("\"\\u003c\\u001f\\u003e\""));
    }
}
