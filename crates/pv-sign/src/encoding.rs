//! Byte encodings used by JWS: base64 alphabets and Go-style compact JSON.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde_json::Value;

/// base64url without padding, the JWS alphabet.
pub fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Standard base64 with padding (RFC 7515 `x5c` entries).
pub fn b64std(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// Standard base64 without padding (what pvr's `sig ls --with-payload` prints).
pub fn b64std_nopad(data: &[u8]) -> String {
    STANDARD_NO_PAD.encode(data)
}

const URL_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const STD_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decode base64url; trailing `=` padding is tolerated.
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_LENIENT.decode(s.as_bytes()).ok()
}

/// Decode standard base64; padding optional.
pub fn b64std_decode(s: &str) -> Option<Vec<u8>> {
    STD_LENIENT.decode(s.as_bytes()).ok()
}

/// A Go `encoding/json` string (see [`pv_json::pretty::write_go_string`]).
pub fn write_go_string(out: &mut String, s: &str) {
    pv_json::pretty::write_go_string(out, s)
}

/// Compact Go `encoding/json` text of a value (object members in the map's
/// order, which for serde_json's map is sorted, as Go sorts map keys).
pub fn go_compact(v: &Value) -> String {
    use pv_json::pretty::{to_string, Numbers, Strings, Style};
    to_string(
        v,
        Style {
            indent: "",
            strings: Strings::GoHtml,
            numbers: Numbers::Literal,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphabets_differ_only_in_two_symbols() {
        let data = [0xfb, 0xff, 0xbf];
        assert_eq!(b64url(&data), "-_-_");
        assert_eq!(b64std_nopad(&data), "+/+/");
        assert_eq!(b64std(&[0xff]), "/w==");
        assert_eq!(b64url_decode("_w").unwrap(), [0xff]);
        assert_eq!(b64url_decode("_w==").unwrap(), [0xff]);
        assert_eq!(b64std_decode("/w").unwrap(), [0xff]);
        assert!(b64url_decode("/w").is_none());
    }

    #[test]
    fn go_escaping() {
        let mut s = String::new();
        write_go_string(&mut s, "a<b>&\u{1}é\u{2028}");
        assert_eq!(s, r#""a\u003cb\u003e\u0026\u0001é\u2028""#);
    }
}
