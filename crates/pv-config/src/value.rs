//! Key types with their defaults, parsed values and their renderings.

use std::time::Duration;

use crate::typed::{LogOutputs, SizeSpec};

/// The type of a key together with its built-in default.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    /// `1/0/true/false/yes/no/on/off` (or any integer, non-zero = true).
    Bool(bool),
    /// A decimal integer that must parse completely.
    Int(i64),
    /// Seconds: a bare number or `Ns`, `Nmin`, `Nh`, `Nd`.
    Duration(u64),
    /// Free text; `None` is the original's NULL (rendered `null` by
    /// `GET /config`).
    Str(Option<&'static str>),
    /// One of a fixed list of names (the list's order is the numeric value).
    Enum(&'static [&'static str], &'static str),
    /// A [`SizeSpec`], kept with its spelling.
    Size(&'static str),
    /// A comma list of log server outputs.
    LogOutputs(&'static str),
}

/// A configuration value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Duration(Duration),
    Str(Option<String>),
    /// Index into the key's name list, and the name.
    Enum(usize, &'static str),
    /// The parsed size and the text it was parsed from.
    Size(SizeSpec, String),
    LogOutputs(LogOutputs),
}

impl Ty {
    /// What the type expects, for warnings.
    pub fn expected(&self) -> &'static str {
        match self {
            Ty::Bool(_) => "a boolean (1/0/true/false/yes/no/on/off)",
            Ty::Int(_) => "an integer",
            Ty::Duration(_) => "a duration (N, Ns, Nmin, Nh or Nd)",
            Ty::Str(_) => "a string",
            Ty::Enum(..) => "one of the listed names",
            Ty::Size(_) => "a size (N[B|K|KB|M|MB|G|GB|T|TB] or N%)",
            Ty::LogOutputs(_) => "a comma list of log outputs",
        }
    }

    /// The built-in default.
    pub fn default_value(&self) -> Value {
        let parsed = match *self {
            Ty::Bool(b) => Some(Value::Bool(b)),
            Ty::Int(i) => Some(Value::Int(i)),
            Ty::Duration(s) => Some(Value::Duration(Duration::from_secs(s))),
            Ty::Str(s) => Some(Value::Str(s.map(str::to_string))),
            Ty::Enum(_, name) | Ty::Size(name) | Ty::LogOutputs(name) => self.parse(name).ok(),
        };
        parsed.expect("built-in defaults parse")
    }

    /// Parse `raw` as this type. The error is a short reason.
    pub fn parse(&self, raw: &str) -> Result<Value, String> {
        let s = raw.trim();
        match *self {
            Ty::Bool(_) => parse_bool(s).map(Value::Bool).ok_or_else(|| self.reason()),
            Ty::Int(_) => s.parse().map(Value::Int).map_err(|_| self.reason()),
            Ty::Duration(_) => parse_duration(s)
                .map(Value::Duration)
                .ok_or_else(|| self.reason()),
            Ty::Str(_) => Ok(Value::Str(Some(raw.to_string()))),
            Ty::Enum(names, _) => names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(s))
                .map(|i| Value::Enum(i, names[i]))
                .ok_or_else(|| format!("expected one of {}", names.join(", "))),
            Ty::Size(_) => SizeSpec::parse(s)
                .map(|spec| Value::Size(spec, s.to_string()))
                .ok_or_else(|| self.reason()),
            Ty::LogOutputs(_) => LogOutputs::parse(s)
                .map(Value::LogOutputs)
                .map_err(|token| format!("unknown log output {token:?}")),
        }
    }

    fn reason(&self) -> String {
        format!("expected {}", self.expected())
    }
}

/// Parse a boolean spelling.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        other => other.parse::<i64>().ok().map(|n| n != 0),
    }
}

/// Parse `N` (seconds), `Ns`, `Nmin`, `Nh` or `Nd`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let mult = match unit.to_ascii_lowercase().as_str() {
        "" | "s" => 1,
        "min" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return None,
    };
    n.checked_mul(mult).map(Duration::from_secs)
}

impl Value {
    /// The string `GET /config2` reports: booleans as `0`/`1`, enums by
    /// name, log outputs as the numeric mask, unset strings as empty.
    pub fn display_string(&self) -> String {
        match self {
            Value::Bool(b) => u8::from(*b).to_string(),
            Value::Int(i) => i.to_string(),
            Value::Duration(d) => d.as_secs().to_string(),
            Value::Str(s) => s.clone().unwrap_or_default(),
            Value::Enum(_, name) => (*name).to_string(),
            Value::Size(_, raw) => raw.clone(),
            Value::LogOutputs(o) => o.0.to_string(),
        }
    }

    /// Append the typed JSON form `GET /config` uses: booleans as JSON
    /// booleans, numbers (enums by their index, log outputs by mask) as
    /// numbers, strings as strings or `null`.
    pub fn write_json(&self, out: &mut String) {
        match self {
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => out.push_str(&i.to_string()),
            Value::Duration(d) => out.push_str(&d.as_secs().to_string()),
            Value::Str(None) => out.push_str("null"),
            Value::Str(Some(s)) => pv_json::write_quoted(out, s),
            Value::Enum(i, _) => out.push_str(&i.to_string()),
            Value::Size(_, raw) => pv_json::write_quoted(out, raw),
            Value::LogOutputs(o) => out.push_str(&o.0.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans() {
        for t in ["1", "true", "TRUE", "yes", "On", " on ", "2"] {
            assert_eq!(Ty::Bool(false).parse(t), Ok(Value::Bool(true)), "{t}");
        }
        for f in ["0", "false", "No", "off", "00"] {
            assert_eq!(Ty::Bool(true).parse(f), Ok(Value::Bool(false)), "{f}");
        }
        assert!(Ty::Bool(true).parse("maybe").is_err());
        assert!(Ty::Bool(true).parse("").is_err());
    }

    #[test]
    fn integers_must_parse_completely() {
        assert_eq!(Ty::Int(0).parse("42"), Ok(Value::Int(42)));
        assert_eq!(Ty::Int(0).parse("-1"), Ok(Value::Int(-1)));
        assert_eq!(Ty::Int(0).parse(" 7 "), Ok(Value::Int(7)));
        assert!(Ty::Int(0).parse("42abc").is_err());
        assert!(Ty::Int(0).parse("").is_err());
        assert!(Ty::Int(0).parse("4.2").is_err());
    }

    #[test]
    fn durations() {
        let secs = |s: &str| parse_duration(s).map(|d| d.as_secs());
        assert_eq!(secs("25"), Some(25));
        assert_eq!(secs("30s"), Some(30));
        assert_eq!(secs("10min"), Some(600));
        assert_eq!(secs("1h"), Some(3600));
        assert_eq!(secs("2d"), Some(172800));
        assert_eq!(secs("1m"), None);
        assert_eq!(secs("-5"), None);
        assert_eq!(secs("h"), None);
        assert_eq!(secs(""), None);
        assert!(Ty::Duration(0).parse("5x").is_err());
    }

    #[test]
    fn strings_keep_spaces_and_enums_match_names() {
        assert_eq!(
            Ty::Str(None).parse(" a b "),
            Ok(Value::Str(Some(" a b ".into())))
        );
        let ty = Ty::Enum(&["disabled", "shutdown"], "shutdown");
        assert_eq!(ty.parse("Disabled"), Ok(Value::Enum(0, "disabled")));
        assert!(ty.parse("sometimes").is_err());
        assert_eq!(ty.default_value(), Value::Enum(1, "shutdown"));
    }

    #[test]
    fn renderings() {
        assert_eq!(Value::Bool(true).display_string(), "1");
        assert_eq!(Value::Str(None).display_string(), "");
        assert_eq!(
            Value::Duration(Duration::from_secs(600)).display_string(),
            "600"
        );
        let mut s = String::new();
        Value::Str(None).write_json(&mut s);
        Value::Bool(false).write_json(&mut s);
        Value::Enum(2, "lenient").write_json(&mut s);
        assert_eq!(s, "nullfalse2");
    }
}
