use serde_json::Value;

use crate::canonical_number;

/// Canonical JSON bytes of a value.
pub fn to_canonical(v: &Value) -> Vec<u8> {
    to_canonical_string(v).into_bytes()
}

/// Canonical JSON text of a value.
pub fn to_canonical_string(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&canonical_number(n.as_str())),
        Value::String(s) => write_canonical_string(out, s),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, x);
            }
            out.push(']');
        }
        Value::Object(m) => {
            // serde_json's Map is a BTreeMap<String, _>: iteration is in byte
            // order of the UTF-8 keys, which is code point order.
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical_string(out, k);
                out.push(':');
                write_value(out, x);
            }
            out.push('}');
        }
    }
}

/// A string with canonical escaping: only `"`, `\` and control characters
/// are escaped; `\u00XX` uses uppercase hex.
pub fn write_canonical_string(out: &mut String, s: &str) {
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
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    fn canon(s: &str) -> String {
        to_canonical_string(&parse(s.as_bytes()).unwrap())
    }

    #[test]
    fn spec_vector_5_sorting() {
        assert_eq!(
            canon(r##"{"b":1,"a":{"z":[3,2,1],"y":"x"},"#spec":"pantavisor-service-system@1"}"##),
            r##"{"#spec":"pantavisor-service-system@1","a":{"y":"x","z":[3,2,1]},"b":1}"##
        );
    }

    #[test]
    fn spec_vector_6_numbers() {
        assert_eq!(
            canon(r#"{"n":[1.0,2.5,0.1,100,1e3,-0,1E-7,12345678901234567890,0.5,10.25]}"#),
            r#"{"n":[1,2.5E0,1.0E-1,100,1000,0,1.0E-7,12345678901234567890,5.0E-1,1.025E1]}"#
        );
    }

    #[test]
    fn spec_vector_7_strings() {
        assert_eq!(
            canon(r#"{"s":"<a&b>","u":"\u00e9\u20ac","c":"\u0001\t\n\"\\/"}"#),
            "{\"c\":\"\\u0001\\t\\n\\\"\\\\/\",\"s\":\"<a&b>\",\"u\":\"é€\"}"
        );
    }

    #[test]
    fn spec_vector_8_key_order() {
        let s = canon(
            r##"{"_sigs/x.json":1,"#spec":2,"Zeta":3,"alpha":4,"bsp/run.json":5,"_config/a":6,"README.md":7}"##,
        );
        assert_eq!(
            s,
            r##"{"#spec":2,"README.md":7,"Zeta":3,"_config/a":6,"_sigs/x.json":1,"alpha":4,"bsp/run.json":5}"##
        );
    }

    #[test]
    fn canonical_text_is_a_fixed_point() {
        let s = r##"{"#spec":"pantavisor-service-system@1","bsp/run.json":{"initrd":"pantavisor","linux":"kernel.img"}}"##;
        assert_eq!(canon(s), s);
    }
}
