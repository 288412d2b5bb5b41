//! JSON spelled the way Go's `json.MarshalIndent` spells it: map keys
//! sorted, `": "` after keys, `<`, `>`, `&`, U+2028 and U+2029 escaped as
//! `\u00XX`, numbers kept as their literal (pvr decodes with `UseNumber`),
//! empty objects and arrays as `{}` / `[]`, no trailing newline.

use serde_json::Value;

/// A JSON object whose members are written in the given order (a Go struct).
pub struct Ordered<'a> {
    pub members: Vec<(&'a str, &'a Value)>,
}

/// `json.MarshalIndent(v, prefix, indent)` of an object with ordered members.
pub fn marshal_ordered(obj: &Ordered<'_>, prefix: &str, indent: &str) -> String {
    let mut out = String::new();
    let w = Writer { prefix, indent };
    if obj.members.is_empty() {
        out.push_str("{}");
        return out;
    }
    out.push('{');
    for (i, (k, v)) in obj.members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        w.newline(&mut out, 1);
        write_string(&mut out, k);
        out.push_str(": ");
        w.value(&mut out, v, 1);
    }
    w.newline(&mut out, 0);
    out.push('}');
    out
}

/// `json.MarshalIndent(v, prefix, indent)` of any value (maps sorted).
pub fn marshal_indent(v: &Value, prefix: &str, indent: &str) -> String {
    let mut out = String::new();
    Writer { prefix, indent }.value(&mut out, v, 0);
    out
}

struct Writer<'a> {
    prefix: &'a str,
    indent: &'a str,
}

impl Writer<'_> {
    fn newline(&self, out: &mut String, depth: usize) {
        out.push('\n');
        out.push_str(self.prefix);
        for _ in 0..depth {
            out.push_str(self.indent);
        }
    }

    fn value(&self, out: &mut String, v: &Value, depth: usize) {
        match v {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(n.as_str()),
            Value::String(s) => write_string(out, s),
            Value::Array(a) if a.is_empty() => out.push_str("[]"),
            Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    self.newline(out, depth + 1);
                    self.value(out, x, depth + 1);
                }
                self.newline(out, depth);
                out.push(']');
            }
            Value::Object(m) if m.is_empty() => out.push_str("{}"),
            Value::Object(m) => {
                out.push('{');
                for (i, (k, x)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    self.newline(out, depth + 1);
                    write_string(out, k);
                    out.push_str(": ");
                    self.value(out, x, depth + 1);
                }
                self.newline(out, depth);
                out.push('}');
            }
        }
    }
}

/// A Go `encoding/json` string (see [`pv_json::pretty::write_go_string`]).
pub fn write_string(out: &mut String, s: &str) {
    pv_json::pretty::write_go_string(out, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_indent_like_go() {
        let args = pv_json::parse(br#"{"B":["x"],"A":"<&>"}"#).unwrap();
        let spec = Value::String("s".into());
        let empty = pv_json::parse(b"{}").unwrap();
        let o = Ordered {
            members: vec![("#spec", &spec), ("args", &args), ("config", &empty)],
        };
        assert_eq!(
            marshal_ordered(&o, " ", " "),
            "{\n  \"#spec\": \"s\",\n  \"args\": {\n   \"A\": \"\\u003c\\u0026\\u003e\",\n   \"B\": [\n    \"x\"\n   ]\n  },\n  \"config\": {}\n }"
        );
    }

    #[test]
    fn four_space_indent_keeps_number_literals() {
        let v = pv_json::parse(br#"{"n":1.0,"s":"a\u0001"}"#).unwrap();
        assert_eq!(
            marshal_indent(&v, "", "    "),
            "{\n    \"n\": 1.0,\n    \"s\": \"a\\u0001\"\n}"
        );
    }
}
