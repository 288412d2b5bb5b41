//! Go's `encoding/json` spelling of a float64, as the original `pvr diff`
//! prints numbers (they went through `interface{}` decoding).

/// Format `lit` the way Go prints it after parsing it into a float64.
pub(crate) fn go_float(lit: &str) -> String {
    let f: f64 = lit.parse().unwrap_or(0.0);
    if !f.is_finite() {
        // beyond float64 (Go would refuse to decode it): keep the literal
        return lit.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits, like Go's -1 precision.
    let e = format!("{:e}", f);
    let (mant, exp) = e.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("exponent");
    let negative = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if negative { "-" } else { "" };
    let abs = f.abs();
    if !(1e-6..1e21).contains(&abs) {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        let eabs = exp.unsigned_abs();
        // Go prints at least two exponent digits, then encoding/json trims
        // a leading zero of a negative exponent ("e-07" -> "e-7").
        let edigits = if eabs < 10 && esign == '+' {
            format!("0{eabs}")
        } else {
            eabs.to_string()
        };
        return format!("{sign}{first}{frac}e{esign}{edigits}");
    }
    let n = digits.len() as i32;
    let point = exp + 1; // digits before the decimal point
    if point <= 0 {
        format!("{sign}0.{}{digits}", "0".repeat((-point) as usize))
    } else if point >= n {
        format!("{sign}{digits}{}", "0".repeat((point - n) as usize))
    } else {
        let (a, b) = digits.split_at(point as usize);
        format!("{sign}{a}.{b}")
    }
}

#[cfg(test)]
mod tests {
    use super::go_float;

    #[test]
    fn matches_go() {
        let cases = [
            ("12345678901234567890", "12345678901234567000"),
            ("9223372036854775807", "9223372036854776000"),
            ("-9223372036854775808", "-9223372036854776000"),
            ("18446744073709551615", "18446744073709552000"),
            ("1e30", "1e+30"),
            ("1e21", "1e+21"),
            ("1e20", "100000000000000000000"),
            ("2.5e-5", "0.000025"),
            ("6.02e23", "6.02e+23"),
            ("1.0e-10", "1e-10"),
            ("1e-7", "1e-7"),
            ("2.5", "2.5"),
            ("0.1", "0.1"),
            ("-0.75", "-0.75"),
            ("123.456", "123.456"),
            ("42.0", "42"),
            ("0", "0"),
            ("1e5", "100000"),
            ("1.0E400", "1.0E400"),
        ];
        for (i, o) in cases {
            assert_eq!(go_float(i), o, "input {i}");
        }
    }
}
