//! The rules by which a package is merged into a state and a part is
//! removed from it (the original pvtx's, see docs/compat.md for where
//! ours are stricter).
//!
//! A part's *ownership* in a state is the set of keys it covers:
//! - the part name itself: the key equal to it or under `<part>/`;
//! - if the state holds the part's signature (`_sigs/<name>.json`, where
//!   the name is the part with a `_sigs/` or `_config/` prefix and a
//!   `.json` suffix taken off), every key that one of its `include` or
//!   `exclude` patterns, cut at the first `*`, is a prefix of (so
//!   `nginx/**` covers `nginx/…`, `_config/nginx/**` the config overlay,
//!   and the default exclude `_sigs/nginx.json` the signature itself);
//! - except keys that more signatures of the state cover than this
//!   part's own rules do (two signed packages sharing a config keep it
//!   when one of them goes).
//!
//! `remove` drops the part's ownership. `add` drops, for every key of the
//! package, the ownership of that key in the current state (so a package
//! carrying `_sigs/nginx.json` replaces everything the old signature
//! covered, while an unsigned one replaces only its own keys), then
//! inserts the package's keys. `#spec` stays the current state's.

use base64::Engine as _;
use pv_types::State;
use serde_json::Value;

const SIGS: &str = "_sigs/";
const CONFIG: &str = "_config/";

/// The include and exclude patterns of a signature value, each cut at its
/// first `*`. `None` if the value is not a readable pvs signature.
pub fn signature_prefixes(sig: &Value) -> Option<Vec<String>> {
    let protected = sig.get("protected")?.as_str()?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(protected.trim_end_matches('='))
        .ok()?;
    let header: Value = serde_json::from_slice(&raw).ok()?;
    let pvs = header.get("pvs")?;
    let mut out = vec![];
    for field in ["include", "exclude"] {
        if let Some(list) = pvs.get(field).and_then(Value::as_array) {
            for p in list.iter().filter_map(Value::as_str) {
                let cut = p.split('*').next().unwrap_or("");
                out.push(cut.to_string());
            }
        }
    }
    Some(out)
}

/// The name a part is known by in `_sigs/`: `nginx`, `_sigs/nginx.json`
/// and `_config/nginx` all name `nginx`.
fn signature_name(part: &str) -> &str {
    let p = part
        .strip_prefix(SIGS)
        .or_else(|| part.strip_prefix(CONFIG))
        .unwrap_or(part);
    let p = p.trim_end_matches('/');
    p.strip_suffix(".json").unwrap_or(p)
}

fn key_in(key: &str, part: &str) -> bool {
    pv_types::in_part(key, part)
}

fn count_prefixes(prefixes: &[String], key: &str) -> usize {
    prefixes
        .iter()
        .filter(|p| key.starts_with(p.as_str()))
        .count()
}

/// Every signature's prefixes in `state`, all together.
fn all_prefixes(state: &State) -> Vec<String> {
    state
        .iter()
        .filter(|(k, _)| k.starts_with(SIGS))
        .filter_map(|(_, v)| signature_prefixes(v))
        .flatten()
        .collect()
}

/// The keys of `state` that `part` owns (see the module docs).
pub fn ownership(state: &State, part: &str) -> Vec<String> {
    ownership_with(state, part, &all_prefixes(state))
}

fn ownership_with(state: &State, part: &str, everyone: &[String]) -> Vec<String> {
    let sig_key = format!("{SIGS}{}.json", signature_name(part));
    let own = state
        .get(&sig_key)
        .and_then(signature_prefixes)
        .unwrap_or_default();
    state
        .keys()
        .filter(|k| *k != "#spec")
        .filter(|k| {
            let n = usize::from(key_in(k, part)) + count_prefixes(&own, k);
            n > 0 && count_prefixes(everyone, k) <= n
        })
        .cloned()
        .collect()
}

/// `state` without what `part` owns; `None` if it owns nothing.
pub fn remove(state: &State, part: &str) -> Option<State> {
    let gone = ownership(state, part);
    if gone.is_empty() {
        return None;
    }
    let mut out = state.clone();
    for k in &gone {
        out.remove(k);
    }
    Some(out)
}

/// `package` merged into `state`.
pub fn add(state: &State, package: &State) -> State {
    let everyone = all_prefixes(state);
    let mut out = state.clone();
    for key in package.keys().filter(|k| *k != "#spec") {
        for k in ownership_with(state, key, &everyone) {
            out.remove(&k);
        }
    }
    for (k, v) in package.iter().filter(|(k, _)| *k != "#spec") {
        out.insert(k.clone(), v.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const A: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222222222222222222222222222";

    /// A signature value with these patterns (no real signature: the
    /// rules only read the protected header).
    fn sig(include: &[&str], exclude: &[&str]) -> Value {
        let header =
            json!({"alg": "RS256", "typ": "PVS", "pvs": {"include": include, "exclude": exclude}});
        let p = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(header.to_string());
        json!({"#spec": "pvs@2", "protected": p, "signature": "x"})
    }

    fn default_sig(name: &str) -> Value {
        sig(
            &[&format!("{name}/**"), &format!("_config/{name}/**")],
            &[&format!("{name}/src.json"), &format!("_sigs/{name}.json")],
        )
    }

    fn state(pairs: &[(&str, Value)]) -> State {
        let mut s = State::new(pv_types::SPEC_SERVICE_SYSTEM);
        for (k, v) in pairs {
            s.insert(*k, v.clone());
        }
        s
    }

    fn keys(s: &State) -> Vec<&str> {
        s.keys().map(String::as_str).collect()
    }

    fn signed_app() -> State {
        state(&[
            ("app/root.squashfs", json!(A)),
            ("app/run.json", json!({"name": "app"})),
            ("app/src.json", json!({})),
            ("_config/app/etc/x.conf", json!(B)),
            ("_sigs/app.json", default_sig("app")),
            ("apple/run.json", json!({})),
            ("bsp/run.json", json!({})),
        ])
    }

    #[test]
    fn a_part_is_removed_by_its_name_its_signature_or_its_config() {
        for part in ["app", "_sigs/app.json", "_config/app"] {
            let s = remove(&signed_app(), part).unwrap();
            assert_eq!(
                keys(&s),
                ["#spec", "apple/run.json", "bsp/run.json"],
                "{part}"
            );
        }
    }

    #[test]
    fn removing_what_is_not_there_is_none() {
        assert!(remove(&signed_app(), "nginx").is_none());
        assert!(remove(&signed_app(), "_sigs/nginx.json").is_none());
        assert!(remove(&signed_app(), "ap").is_none(), "whole segments only");
    }

    #[test]
    fn unsigned_parts_go_by_name() {
        let s = remove(&signed_app(), "apple").unwrap();
        assert!(!s.contains_key("apple/run.json"));
        assert!(s.contains_key("app/run.json"));
    }

    #[test]
    fn a_signed_package_replaces_everything_its_old_signature_covered() {
        let pkg = state(&[
            ("app/root.squashfs", json!(B)),
            ("app/run.json", json!({"name": "app", "v": 2})),
            ("_sigs/app.json", default_sig("app")),
        ]);
        let s = add(&signed_app(), &pkg);
        assert_eq!(
            keys(&s),
            [
                "#spec",
                "_sigs/app.json",
                "app/root.squashfs",
                "app/run.json",
                "apple/run.json",
                "bsp/run.json"
            ]
        );
        assert_eq!(s.get("app/root.squashfs"), Some(&json!(B)));
    }

    #[test]
    fn an_unsigned_package_replaces_only_its_keys() {
        let base = state(&[
            ("web/run.json", json!({"v": 1})),
            ("web/lxc.container.conf", json!(A)),
        ]);
        let pkg = state(&[("web/run.json", json!({"v": 2}))]);
        let s = add(&base, &pkg);
        assert_eq!(s.get("web/run.json"), Some(&json!({"v": 2})));
        assert!(s.contains_key("web/lxc.container.conf"));
    }

    #[test]
    fn keys_shared_by_two_signatures_stay_with_the_other() {
        // two config packages signing the same overlay file
        let base = state(&[
            ("_config/nginx/nginx.conf", json!(A)),
            ("_config/nginx/a.conf", json!(B)),
            (
                "_sigs/config_a.json",
                sig(&["_config/nginx/**"], &["_sigs/config_a.json"]),
            ),
            (
                "_sigs/config_b.json",
                sig(&["_config/nginx/nginx.conf"], &["_sigs/config_b.json"]),
            ),
        ]);
        let s = remove(&base, "_sigs/config_a.json").unwrap();
        assert_eq!(
            keys(&s),
            ["#spec", "_config/nginx/nginx.conf", "_sigs/config_b.json"]
        );
    }

    #[test]
    fn spec_is_kept_and_adding_twice_changes_nothing() {
        let pkg = signed_app();
        let once = add(&State::new(pv_types::SPEC_SERVICE_SYSTEM), &pkg);
        let twice = add(&once, &pkg);
        assert_eq!(once, twice);
        assert_eq!(once.spec(), Some(pv_types::SPEC_SERVICE_SYSTEM));
        assert_eq!(once, pkg);
    }

    #[test]
    fn unreadable_signatures_own_nothing_beyond_their_name() {
        let base = state(&[
            ("x/run.json", json!({})),
            ("_sigs/x.json", json!({"protected": "%%%"})),
        ]);
        let s = remove(&base, "x").unwrap();
        assert_eq!(keys(&s), ["#spec", "_sigs/x.json"]);
        let s = remove(&base, "_sigs/x.json").unwrap();
        assert_eq!(keys(&s), ["#spec", "x/run.json"]);
    }
}
