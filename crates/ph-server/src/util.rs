//! Small helpers: ids, random words, times, PRNs.

use rand::distributions::Alphanumeric;
use rand::seq::SliceRandom;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};

/// A new 24-hex-digit id (the shape of the original's ObjectIDs).
pub fn new_id() -> String {
    let mut b = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// `n` random lowercase letters and digits.
pub fn random_lower(n: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .map(|c| (c as char).to_ascii_lowercase())
        .take(n)
        .collect()
}

/// `n` random lowercase letters.
pub fn random_letters(n: usize) -> String {
    let mut r = rand::thread_rng();
    (0..n)
        .map(|_| (b'a' + r.gen_range(0..26)) as char)
        .collect()
}

const WORDS: &[&str] = &[
    "amber", "brave", "calm", "dusty", "eager", "fancy", "gentle", "happy", "icy", "jolly", "keen",
    "lucky", "mellow", "noble", "olive", "proud", "quick", "rapid", "sunny", "tidy", "urban",
    "vivid", "witty", "young", "zesty", "badger", "cobra", "dingo", "eagle", "falcon", "gecko",
    "heron", "ibis", "jackal", "koala", "lemur", "marten", "newt", "otter", "panda", "quail",
    "raven", "salmon", "tapir", "urchin", "viper", "walrus", "yak", "zebra", "anchor", "bridge",
    "canyon", "delta", "ember", "forest", "glacier", "harbor", "island", "jungle", "lagoon",
    "meadow", "nebula", "orchid", "prairie", "river", "summit", "tundra", "valley",
];

/// `n` random words joined by `sep`.
pub fn words(n: usize, sep: &str) -> String {
    let mut r = rand::thread_rng();
    (0..n)
        .map(|_| *WORDS.choose(&mut r).unwrap_or(&"x"))
        .collect::<Vec<_>>()
        .join(sep)
}

/// One random word.
pub fn word() -> &'static str {
    WORDS.choose(&mut rand::thread_rng()).unwrap_or(&"x")
}

/// Go's RFC 3339 with nanoseconds, trailing zeros of the fraction dropped.
pub fn rfc3339(nanos: i64) -> String {
    let secs = nanos.div_euclid(1_000_000_000);
    let frac = nanos.rem_euclid(1_000_000_000);
    let t = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
    let mut s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    if frac != 0 {
        let f = format!("{frac:09}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Parse an RFC 3339 time into nanoseconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    // far dates saturate (a filter "after year 3000" must still work)
    chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| {
        t.timestamp()
            .saturating_mul(1_000_000_000)
            .saturating_add(i64::from(t.timestamp_subsec_nanos()))
    })
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// The storage id of an owner's record of `sha`.
pub fn storage_id(owner: &str, sha: &str) -> String {
    sha256_hex(format!("{owner}/{sha}").as_bytes())
}

/// Account prn of an id.
pub fn account_prn(id: &str) -> String {
    format!("prn:::accounts:/{id}")
}

/// Device prn of an id.
pub fn device_prn(id: &str) -> String {
    format!("prn:::devices:/{id}")
}

/// Normalize a PRN spelled the seed's way (`prn::devices/<id>`,
/// `prn::accounts:/<id>`) to the three-colon form; others unchanged.
pub fn normalize_prn(p: &str) -> String {
    for svc in ["devices", "accounts"] {
        for alt in [
            format!("prn::{svc}/"),
            format!("prn::{svc}:/"),
            format!("prn:::{svc}/"),
        ] {
            if let Some(id) = p.strip_prefix(&alt) {
                return format!("prn:::{svc}:/{id}");
            }
        }
    }
    p.to_string()
}

/// The id part of a PRN (after the first `/`).
pub fn prn_id(p: &str) -> &str {
    p.split_once('/').map_or("", |(_, id)| id)
}

/// Whether a device nick is acceptable.
pub fn valid_device_nick(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+' | b'%'))
}

/// Whether an account nick is acceptable (3..=23 characters, no spaces or
/// separators).
pub fn valid_user_nick(n: &str) -> bool {
    (3..=23).contains(&n.chars().count())
        && n.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_id_vector() {
        assert_eq!(
            storage_id(
                "prn:pantahub.com:auth:/user1",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            ),
            "905d4ae02b7d22e2966a4000d3b26171617d33d0701e0112e9e24311647e5227"
        );
    }

    #[test]
    fn prn_spellings() {
        assert_eq!(normalize_prn("prn::devices/abc"), "prn:::devices:/abc");
        assert_eq!(normalize_prn("prn::accounts:/abc"), "prn:::accounts:/abc");
        assert_eq!(normalize_prn("prn:::devices:/abc"), "prn:::devices:/abc");
        assert_eq!(prn_id("prn:::devices:/abc"), "abc");
    }

    #[test]
    fn times() {
        assert_eq!(rfc3339(1_500_000_000_100_000_000), "2017-07-14T02:40:00.1Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            parse_rfc3339("2017-07-14T02:40:00.1Z"),
            Some(1_500_000_000_100_000_000)
        );
    }

    #[test]
    fn nicks() {
        assert!(valid_device_nick("my_dev-1"));
        assert!(!valid_device_nick("bad nick!"));
        assert!(!valid_user_nick("ab"));
        assert!(valid_user_nick("user1"));
    }
}
