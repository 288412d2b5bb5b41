//! Access to the raw text of a JSON object's members, in document order.
//! The device computes signature payloads from this text, and go-jose
//! re-serializes headers from it.

/// One member of a JSON object as written in the source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMember<'a> {
    /// The key's text between its quotes, escapes as written.
    pub raw_key: &'a str,
    /// The decoded key.
    pub key: String,
    /// The value's token text (a string includes its quotes).
    pub value: &'a str,
}

/// The members of the top-level object of `text`, in document order
/// (duplicates kept). Fails if `text` is not a single valid JSON object.
pub fn object_members(text: &str) -> Result<Vec<RawMember<'_>>, String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(_)) => {}
        Ok(_) => return Err("not a JSON object".into()),
        Err(e) => return Err(e.to_string()),
    }
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0) + 1; // past '{'
    let mut out = Vec::new();
    loop {
        i = skip_ws(b, i);
        if b[i] == b'}' {
            break;
        }
        if b[i] == b',' {
            i = skip_ws(b, i + 1);
        }
        let key_end = string_end(b, i);
        let raw_key = &text[i + 1..key_end - 1];
        let key: String = serde_json::from_str(&text[i..key_end]).map_err(|e| e.to_string())?;
        i = skip_ws(b, key_end) + 1; // past ':'
        i = skip_ws(b, i);
        let v_end = value_end(b, i);
        out.push(RawMember {
            raw_key,
            key,
            value: &text[i..v_end],
        });
        i = v_end;
    }
    Ok(out)
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// `b[i]` is an opening quote; returns the index after the closing quote.
fn string_end(b: &[u8], mut i: usize) -> usize {
    i += 1;
    while b[i] != b'"' {
        i += if b[i] == b'\\' { 2 } else { 1 };
    }
    i + 1
}

/// Index just after the value starting at `b[i]` (valid JSON assumed).
fn value_end(b: &[u8], i: usize) -> usize {
    match b[i] {
        b'"' => string_end(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match b[j] {
                    b'"' => {
                        j = string_end(b, j);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            {
                j += 1;
            }
            j
        }
    }
}

/// Go `json.Compact` with HTML escaping, as `json.Marshal` applies it to a
/// `json.RawMessage`: whitespace outside strings removed, `<`, `>`, `&`,
/// U+2028, U+2029 inside strings escaped.
pub fn go_compact_raw(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut in_str = false;
    let mut escaped = false;
    for c in raw.chars() {
        if in_str {
            match c {
                _ if escaped => {
                    escaped = false;
                    out.push(c);
                }
                '\\' => {
                    escaped = true;
                    out.push(c);
                }
                '"' => {
                    in_str = false;
                    out.push(c);
                }
                '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                    out.push_str(&format!("\\u{:04x}", c as u32))
                }
                _ => out.push(c),
            }
        } else if c == '"' {
            in_str = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_in_document_order() {
        let t = "{ \"b\" : [1, {\"x\":\"}\"}] ,\n \"a\\u0041\":\"s\\\"\", \"n\": -1.5e3 ,\"o\":{}}";
        let m = object_members(t).unwrap();
        let keys: Vec<_> = m.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(keys, ["b", "aA", "n", "o"]);
        assert_eq!(m[0].value, "[1, {\"x\":\"}\"}]");
        assert_eq!(m[1].raw_key, "a\\u0041");
        assert_eq!(m[1].value, "\"s\\\"\"");
        assert_eq!(m[2].value, "-1.5e3");
        assert_eq!(m[3].value, "{}");
        assert!(object_members("[1]").is_err());
        assert!(object_members("{").is_err());
    }

    #[test]
    fn compact_like_go() {
        assert_eq!(
            go_compact_raw("{ \"k\" : [ \"<a b>\" , 1 ] }"),
            r#"{"k":["\u003ca b\u003e",1]}"#
        );
    }
}
