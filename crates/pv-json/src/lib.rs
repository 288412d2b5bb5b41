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
pub use number::{canonical_number, numbers_equal};
pub use serde_json::{Map, Number, Value};

/// A JSON document that could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(#[from] serde_json::Error);

/// Parse JSON text, keeping every number as its exact literal.
pub fn parse(bytes: &[u8]) -> Result<Value, ParseError> {
    Ok(serde_json::from_slice(bytes)?)
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
    fn equality_is_by_value() {
        let a = parse(br#"{"a":[1e3,0.10,-0],"b":"x"}"#).unwrap();
        let b = parse(br#"{"b":"x","a":[1000,1E-1,0]}"#).unwrap();
        assert!(values_equal(&a, &b));
        let c = parse(br#"{"b":"x","a":[1000,1E-1,1]}"#).unwrap();
        assert!(!values_equal(&a, &c));
    }
}
