//! The JSON object served by `GET /user-meta` and `GET /device-meta`.

/// True if `value` is a JSON object or array (then embedded as is).
pub fn is_json_container(value: &str) -> bool {
    matches!(
        serde_json::from_str::<serde_json::Value>(value),
        Ok(serde_json::Value::Object(_) | serde_json::Value::Array(_))
    )
}

/// Render pairs, in the given order, as one compact JSON object: values
/// that are JSON objects or arrays are embedded raw, every other value is a
/// JSON string (so `"0"` stays `"0"`).
pub fn render<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&pv_json::quote(k));
        out.push(':');
        if is_json_container(v) {
            out.push_str(v);
        } else {
            out.push_str(&pv_json::quote(v));
        }
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders() {
        assert_eq!(render([]), "{}");
        let got = render([
            ("pantavisor.revision", "0"),
            ("pantavisor.uname", "{\"machine\":\"x86_64\"}"),
            ("list", "[1, 2]"),
            ("text", "say \"hi\"\n"),
            ("num", "12"),
            ("t", "true"),
            ("broken", "{\"a\":"),
        ]);
        assert_eq!(
            got,
            "{\"pantavisor.revision\":\"0\",\"pantavisor.uname\":{\"machine\":\"x86_64\"},\
             \"list\":[1, 2],\"text\":\"say \\\"hi\\\"\\n\",\"num\":\"12\",\"t\":\"true\",\
             \"broken\":\"{\\\"a\\\":\"}"
        );
        let v: serde_json::Value = serde_json::from_str(&got).unwrap();
        assert_eq!(v["pantavisor.uname"]["machine"], "x86_64");
    }
}
