//! Exact decimal handling of JSON number literals.

use serde_json::Number;

/// Exponents are clamped to this magnitude while decomposing.
const MAX_EXP: i64 = 1 << 40;

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

fn decompose(lit: &str) -> Decimal {
    let (negative, rest) = match lit.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, lit),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        // saturate: exponents beyond any real value stay bounded
        Some(i) => (
            &rest[..i],
            rest[i + 1..]
                .parse::<i64>()
                .unwrap_or(i64::MAX / 4)
                .clamp(-MAX_EXP, MAX_EXP),
        ),
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
        return Decimal {
            negative: false,
            digits: String::new(),
            exp10: 0,
        };
    }
    // value = 0.<all> * 10^(len(int_part) + exp); dropping `lead` leading zeros
    // shifts the point left by `lead`.
    let exp10 = int_part.len() as i64 + exp - lead as i64;
    Decimal {
        negative,
        digits: trimmed.to_string(),
        exp10,
    }
}

/// The canonical spelling of a JSON number literal: integers as plain digits
/// (no exponent, no sign on zero), anything else as `d.dddE<exp>` with at
/// least one fractional digit and no `+` in the exponent.
pub fn canonical_number(lit: &str) -> String {
    let d = decompose(lit);
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
    decompose(a.as_str()) == decompose(b.as_str())
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
            ("1e99999999999999999999", "1.0E1099511627776"),
        ];
        for (i, o) in cases {
            assert_eq!(canonical_number(i), o, "input {i}");
        }
    }
}
