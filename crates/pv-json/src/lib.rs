//! JSON as Pantavisor states need it.
//!
//! * [`to_canonical`]: the canonical form pvr writes (sorted keys, minimal
//!   string escaping, integers as plain digits, other numbers as `d.dddE<n>`).
//!   The sha256 of a state's canonical bytes is its identity on the hub.
//! * [`pretty`]: the indented forms the original tools print (TAB-indented
//!   `pvr json`, Go-escaped `pvr diff`, 4-space checkout files).
//! * [`merge_patch`]: RFC 7386 diff and apply, with the null pruning pvr
//!   applies on commit.
//!
//! Numbers are kept as their exact literal (serde_json's
//! `arbitrary_precision`), so no value is ever rounded through `f64`.

mod canonical;
mod gofloat;
pub mod merge_patch;
mod number;
pub mod pretty;

pub use canonical::{to_canonical, to_canonical_string, write_canonical_string};
pub use number::{canonical_number, number_in_range, numbers_equal, MAX_EXP};
pub use serde_json::{Map, Number, Value};

/// A JSON document that could not be parsed.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("{0}")]
    Syntax(#[from] serde_json::Error),
    /// A number beyond `10^MAX_EXP` (Go's parser reports such a literal as
    /// out of range).
    #[error("number {0} is out of range")]
    NumberOutOfRange(String),
}

/// Parse JSON text, keeping every number as its exact literal. Numbers
/// too large to represent are refused ([`number_in_range`]).
pub fn parse(bytes: &[u8]) -> Result<Value, ParseError> {
    let v = serde_json::from_slice(bytes)?;
    check_numbers(&v)?;
    Ok(v)
}

fn check_numbers(v: &Value) -> Result<(), ParseError> {
    match v {
        Value::Number(n) if !number_in_range(n.as_str()) => {
            let lit = n.as_str();
            let shown: String = lit.chars().take(40).collect();
            let more = if shown.len() < lit.len() { "…" } else { "" };
            Err(ParseError::NumberOutOfRange(format!("{shown}{more}")))
        }
        Value::Array(a) => a.iter().try_for_each(check_numbers),
        Value::Object(m) => m.values().try_for_each(check_numbers),
        _ => Ok(()),
    }
}

/// `s` as a JSON string literal, for the JSON bodies and files the device
/// writes by hand (serde_json's escaping: `\"`, `\\`, `\b \f \n \r \t`,
/// other control characters as lowercase `\u00xx`, everything else as is).
/// The canonical and Go forms have their own writers
/// ([`write_canonical_string`], [`pretty::write_go_string`]).
pub fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serializes")
}

/// Append [`quote`]`(s)` to `out`.
pub fn write_quoted(out: &mut String, s: &str) {
    out.push_str(&quote(s));
}

/// Structural equality where numbers compare by exact value (`1e3 == 1000`).
pub fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => numbers_equal(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| values_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_strings_parse_back() {
        assert_eq!(quote("a\"b\\c\nd\u{1}\u{8}é<"), r#""a\"b\\c\nd\u0001\bé<""#);
        for s in ["", "plain", "\u{7f}\u{1f}\t\r", "\u{2028}€"] {
            assert_eq!(parse(quote(s).as_bytes()).unwrap(), Value::String(s.into()));
        }
    }

    #[test]
    fn numbers_out_of_range_are_refused() {
        let err = parse(br#"{"a":[1,{"b":-2e99999999999999999999}]}"#).unwrap_err();
        assert!(
            matches!(err, ParseError::NumberOutOfRange(ref n) if n.ends_with("99999999999999999999")),
            "{err:?}"
        );
        let v = parse(br#"{"a":1e-99999999999999999999}"#).unwrap();
        assert_eq!(to_canonical_string(&v), r#"{"a":0}"#);
    }

    #[test]
    fn equality_is_by_value() {
        let a = parse(br#"{"a":[1e3,0.10,-0],"b":"x"}"#).unwrap();
        let b = parse(br#"{"b":"x","a":[1000,1E-1,0]}"#).unwrap();
        assert!(values_equal(&a, &b));
        let c = parse(br#"{"b":"x","a":[1000,1E-1,1]}"#).unwrap();
        assert!(!values_equal(&a, &c));
    }
}
