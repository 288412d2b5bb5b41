//! Inline JSON files are read the way the original pvr reads them (Go's
//! `encoding/json`), which is more forgiving than RFC 8259 inside strings:
//! - a `\uXXXX` escape of a UTF-16 surrogate that is not the first half of
//!   a valid pair (a lone `\ud800`, a lone `\udc00`, a reversed pair) reads
//!   as U+FFFD; the escape after it is read on its own;
//! - a byte that is not part of valid UTF-8 reads as U+FFFD, one per byte.
//!
//! [`normalize`] rewrites exactly those spots so that a strict parser then
//! sees the values Go sees, and `add`, `status`, `json --canonical` and the
//! state sha agree with the original. Everything else, including text that
//! is not JSON at all, is left as it is (and a strict parse of it fails as
//! before).

use std::borrow::Cow;

const REPLACEMENT_ESCAPE: &[u8] = br"\ufffd";
const REPLACEMENT_UTF8: &[u8] = "\u{fffd}".as_bytes();

/// The UTF-16 code unit of a `\uXXXX` escape at the start of `b`.
fn escape_at(b: &[u8]) -> Option<u16> {
    let hex = b.strip_prefix(br"\u")?.get(..4)?;
    u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
}

fn is_high(u: u16) -> bool {
    (0xD800..0xDC00).contains(&u)
}

fn is_low(u: u16) -> bool {
    (0xDC00..0xE000).contains(&u)
}

/// The length of the UTF-8 sequence a lead byte announces (0: not a lead).
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 0,
    }
}

/// `text` with Go's replacements applied inside strings (borrowed when
/// there is nothing to replace).
pub fn normalize(text: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Vec<u8> = Vec::new();
    let mut changed = false;
    let mut in_string = false;
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        if !in_string || b == b'"' {
            in_string ^= b == b'"';
            out.push(b);
            i += 1;
            continue;
        }
        if b == b'\\' {
            match escape_at(&text[i..]) {
                Some(u) if is_high(u) && escape_at(&text[i + 6..]).is_some_and(is_low) => {
                    out.extend_from_slice(&text[i..i + 12]);
                    i += 12;
                }
                Some(u) if is_high(u) || is_low(u) => {
                    out.extend_from_slice(REPLACEMENT_ESCAPE);
                    changed = true;
                    i += 6;
                }
                Some(_) => {
                    out.extend_from_slice(&text[i..i + 6]);
                    i += 6;
                }
                None => {
                    // any other escape (valid or not) is two bytes; a strict
                    // parse judges it
                    let end = (i + 2).min(text.len());
                    out.extend_from_slice(&text[i..end]);
                    i = end;
                }
            }
            continue;
        }
        if b < 0x80 {
            out.push(b);
            i += 1;
            continue;
        }
        let n = utf8_len(b);
        let seq = text.get(i..i + n.max(1)).unwrap_or(&text[i..i + 1]);
        if n > 0 && seq.len() == n && std::str::from_utf8(seq).is_ok() {
            out.extend_from_slice(seq);
            i += n;
        } else {
            out.extend_from_slice(REPLACEMENT_UTF8);
            changed = true;
            i += 1;
        }
    }
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn read(text: &[u8]) -> Value {
        pv_json::parse(&normalize(text)).unwrap()
    }

    fn s(v: &str) -> Value {
        Value::String(v.into())
    }

    #[test]
    fn lone_and_reversed_surrogates_become_replacement_characters() {
        assert_eq!(read(br#"{"k":"a\ud800b"}"#)["k"], s("a\u{fffd}b"));
        assert_eq!(read(br#"{"k":"\udc00"}"#)["k"], s("\u{fffd}"));
        // reversed pair: each half on its own
        assert_eq!(read(br#"{"k":"\udc00\ud800"}"#)["k"], s("\u{fffd}\u{fffd}"));
        // a high surrogate before a plain escape: the escape still counts
        assert_eq!(read(br#"{"k":"\ud800\u0041"}"#)["k"], s("\u{fffd}A"));
        // high + high + low: the first is lone, the next two are a pair
        assert_eq!(
            read(br#"{"k":"\ud800\ud83d\ude00"}"#)["k"],
            s("\u{fffd}\u{1f600}")
        );
        // at the end of the string, and in keys
        assert_eq!(read(br#"{"\uD800":"x\uDBFF"}"#)["\u{fffd}"], s("x\u{fffd}"));
    }

    #[test]
    fn valid_text_is_untouched() {
        let t = br#"{"k":"\ud83d\ude00 \u00e9 \\ud800 \" \n","n":[1,2.5e3],"u":"\u20ac"}"#;
        assert!(matches!(normalize(t), Cow::Borrowed(_)));
        assert_eq!(read(t)["k"], s("\u{1f600} \u{e9} \\ud800 \" \n"));
        let utf8 = "{\"k\":\"é€😀\"}".as_bytes();
        assert!(matches!(normalize(utf8), Cow::Borrowed(_)));
    }

    #[test]
    fn invalid_utf8_in_strings_is_replaced_per_byte() {
        // a lone continuation byte, a truncated 3-byte sequence, an encoded surrogate
        assert_eq!(read(b"{\"k\":\"a\x80b\"}")["k"], s("a\u{fffd}b"));
        assert_eq!(read(b"{\"k\":\"\xe2\x82\"}")["k"], s("\u{fffd}\u{fffd}"));
        assert_eq!(
            read(b"{\"k\":\"\xed\xa0\x80\"}")["k"],
            s("\u{fffd}\u{fffd}\u{fffd}")
        );
        assert_eq!(read(b"{\"k\":\"\xff\"}")["k"], s("\u{fffd}"));
    }

    #[test]
    fn text_that_is_not_json_stays_not_json() {
        for t in [
            &b"not json \\ud800"[..],
            b"\x00\xff\x80",
            b"{\"k\": \\ud800}",
            b"\"\\u12",
        ] {
            assert!(pv_json::parse(&normalize(t)).is_err(), "{t:?}");
        }
        // bytes outside strings are never rewritten
        assert!(matches!(normalize(b"\xff \\ud800"), Cow::Borrowed(_)));
    }
}
