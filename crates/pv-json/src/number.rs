//! Exact decimal handling of JSON number literals.

use serde_json::Number;

/// The largest decimal exponent a number may have (`0.d * 10^MAX_EXP`).
/// Beyond it a literal is out of range, as Go's `strconv.ParseFloat` reports
/// an overflow; below `10^-MAX_EXP` a value is zero, as Go rounds an
/// underflow to 0. In between values are kept exactly (pvr keeps literals).
pub const MAX_EXP: i64 = 1 << 40;

/// Integers whose plain spelling would need more zeros than this are
/// spelled in the `d.dddE<n>` form instead (no real state has them; the
/// bound keeps hostile input from expanding to gigabytes).
pub const MAX_PLAIN_ZEROS: i64 = 400;

/// A number literal split into sign, significant digits and a power of ten:
/// value = sign * 0.<digits> * 10^exp10, digits without leading or trailing
/// zeros. Zero has empty digits.
#[derive(Debug, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    digits: String,
    exp10: i64,
}

impl Decimal {
    const ZERO: Decimal = Decimal {
        negative: false,
        digits: String::new(),
        exp10: 0,
    };
}

/// A literal's value: exact, or too large to represent.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    Exact(Decimal),
    Overflow,
}

fn decompose(lit: &str) -> Parsed {
    let (negative, rest) = match lit.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, lit),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(i) => {
            let e = &rest[i + 1..];
            match e.parse::<i64>() {
                Ok(e) => (&rest[..i], e),
                // only the magnitude can fail a well-formed literal
                Err(_) if e.starts_with('-') => (&rest[..i], i64::MIN),
                Err(_) => (&rest[..i], i64::MAX),
            }
        }
        None => (rest, 0),
    };
    let (int_part, frac_part) = match mantissa.find('.') {
        Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
        None => (mantissa, ""),
    };
    let all: String = format!("{int_part}{frac_part}");
    let lead = all.len() - all.trim_start_matches('0').len();
    let trimmed = all.trim_start_matches('0').trim_end_matches('0');
    if trimmed.is_empty() {
        return Parsed::Exact(Decimal::ZERO);
    }
    // value = 0.<all> * 10^(len(int_part) + exp); dropping `lead` leading zeros
    // shifts the point left by `lead`. Saturating: a mantissa has fewer
    // than 2^62 digits, so a saturated sum is still beyond ±MAX_EXP.
    let exp10 = exp
        .saturating_add(int_part.len() as i64)
        .saturating_sub(lead as i64);
    if exp10 > MAX_EXP {
        return Parsed::Overflow;
    }
    if exp10 < -MAX_EXP {
        return Parsed::Exact(Decimal::ZERO);
    }
    Parsed::Exact(Decimal {
        negative,
        digits: trimmed.to_string(),
        exp10,
    })
}

/// True if the literal's value is within `10^±MAX_EXP` or rounds to zero
/// below it; [`crate::parse`] refuses documents with other numbers.
pub fn number_in_range(lit: &str) -> bool {
    decompose(lit) != Parsed::Overflow
}

/// The canonical spelling of a JSON number literal: integers as plain digits
/// (no exponent, no sign on zero), anything else as `d.dddE<exp>` with at
/// least one fractional digit and no `+` in the exponent.
///
/// A literal beyond `10^MAX_EXP` (which [`crate::parse`] refuses) is spelled
/// with the exponent `MAX_EXP`.
pub fn canonical_number(lit: &str) -> String {
    let d = match decompose(lit) {
        Parsed::Exact(d) => d,
        Parsed::Overflow => Decimal {
            negative: lit.starts_with('-'),
            digits: "1".into(),
            exp10: MAX_EXP + 1,
        },
    };
    if d.digits.is_empty() {
        return "0".to_string();
    }
    let sign = if d.negative { "-" } else { "" };
    let n = d.digits.len() as i64;
    if d.exp10 >= n && d.exp10 - n <= MAX_PLAIN_ZEROS {
        // integer
        let zeros = "0".repeat((d.exp10 - n) as usize);
        return format!("{sign}{}{zeros}", d.digits);
    }
    let (first, rest) = d.digits.split_at(1);
    let rest = if rest.is_empty() { "0" } else { rest };
    format!("{sign}{first}.{rest}E{}", d.exp10 - 1)
}

/// Compare two numbers by exact value.
pub fn numbers_equal(a: &Number, b: &Number) -> bool {
    match (decompose(a.as_str()), decompose(b.as_str())) {
        (Parsed::Exact(x), Parsed::Exact(y)) => x == y,
        // out of range: only the same literal is known to be equal
        _ => a.as_str() == b.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_vectors() {
        let cases = [
            ("1.0", "1"),
            ("2.5", "2.5E0"),
            ("0.1", "1.0E-1"),
            ("100", "100"),
            ("1e3", "1000"),
            ("-0", "0"),
            ("1E-7", "1.0E-7"),
            ("12345678901234567890", "12345678901234567890"),
            ("0.5", "5.0E-1"),
            ("10.25", "1.025E1"),
            ("0e5", "0"),
            ("42.0", "42"),
            ("7.000", "7"),
            ("-1.5", "-1.5E0"),
            ("0.001", "1.0E-3"),
            ("123.456", "1.23456E2"),
            ("-0.75", "-7.5E-1"),
            ("1e21", "1000000000000000000000"),
            ("2.5e-5", "2.5E-5"),
            ("6.02e23", "602000000000000000000000"),
            ("1.0e-10", "1.0E-10"),
            ("-9223372036854775808", "-9223372036854775808"),
            ("1E+2", "100"),
            ("3E000000010000001", "3.0E10000001"),
        ];
        for (i, o) in cases {
            assert_eq!(canonical_number(i), o, "input {i}");
        }
    }

    #[test]
    fn exponents_beyond_the_range() {
        // underflow is zero, whatever the sign or the exponent's width
        for tiny in [
            "1e-99999999999999999999",
            "-1e-99999999999999999999",
            "5.5E-1099511627778",
            "0.001e-1099511627775",
            "1e-9223372036854775808",
        ] {
            assert_eq!(canonical_number(tiny), "0", "{tiny}");
            assert!(number_in_range(tiny));
        }
        // the smallest exponent kept exactly
        assert_eq!(canonical_number("1e-1099511627777"), "1.0E-1099511627777");
        // overflow is out of range
        for huge in [
            "1e99999999999999999999",
            "-1e1099511627776",
            "10e1099511627775",
            "1e9223372036854775807",
        ] {
            assert!(!number_in_range(huge), "{huge}");
        }
        assert!(number_in_range("1e1099511627775"));
        assert!(number_in_range("0e99999999999999999999"));
        assert_eq!(canonical_number("1e1099511627775"), "1.0E1099511627775");
    }
}
