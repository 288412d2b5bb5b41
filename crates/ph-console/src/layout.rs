//! The frame of every page and the small formatting helpers they share.

use axum::response::Html;
use maud::{html, Markup, DOCTYPE};

use crate::session::Session;

/// A device counts as online when it reported within this long.
pub const ONLINE_SECS: i64 = 120;

/// A whole page: header with navigation (and logout) when logged in.
pub fn page(title: &str, s: Option<&Session>, body: Markup) -> Html<String> {
    let m = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Pantahub" }
                link rel="stylesheet" href="/ui/assets/console.css";
                script src="/ui/assets/console.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/ui/fleet" { "Pantahub" }
                    @if let Some(s) = s {
                        nav {
                            a href="/ui/fleet" { "Fleet" }
                            a href="/ui/claim" { "Claim" }
                            a href="/ui/tokens" { "Join tokens" }
                            a href="/ui/rollouts" { "Rollouts" }
                        }
                        form.logout method="post" action="/ui/logout" {
                            span.user { (s.nick) }
                            input type="hidden" name="csrf" value=(s.csrf);
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    };
    Html(m.into_string())
}

/// A status as a coloured badge (`DONE`, `ERROR`, `online`…).
pub fn badge(status: &str) -> Markup {
    let class = match status {
        "DONE" | "UPDATED" | "online" => "ok",
        "ERROR" | "WONTGO" | "offline" => "bad",
        "" | "none" => "none",
        _ => "busy",
    };
    html! { span class={"badge " (class)} { @if status.is_empty() { "no trail" } @else { (status) } } }
}

/// How long ago a time (nanoseconds) was, in words.
pub fn ago(nanos: i64, now: i64) -> String {
    if nanos <= 0 {
        return "never".into();
    }
    let s = (now - nanos).max(0) / 1_000_000_000;
    match s {
        0..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=86399 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86400),
    }
}

/// A time as `YYYY-MM-DD HH:MM:SS` UTC.
pub fn time(nanos: i64) -> String {
    let t = ph_server::util::rfc3339(nanos - nanos.rem_euclid(1_000_000_000));
    t.trim_end_matches('Z').replace('T', " ")
}

/// A byte count for people.
pub fn size(n: i64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// Percent-encode a query value.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// A text value of a JSON metadata value (strings without quotes).
pub fn meta_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ages_read_well() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(2048), "2.0 KiB");
        assert_eq!(size(5 << 20), "5.0 MiB");
        let now = 10_000_000_000_000;
        assert_eq!(ago(now - 5_000_000_000, now), "5 s ago");
        assert_eq!(ago(now - 600_000_000_000, now), "10 min ago");
        assert_eq!(ago(0, now), "never");
        assert_eq!(time(1_000_000_000_500), "1970-01-01 00:16:40");
        assert_eq!(enc("a=b c"), "a%3Db%20c");
    }
}
