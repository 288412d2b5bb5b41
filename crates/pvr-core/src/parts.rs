//! Part selection, the one parser and matcher for every place parts are
//! named: reference fragments (`pvr get|merge|clone|inspect|deploy
//! REPO#p1,p2,-p3`) and `pvr export --parts p1,p2`.
//!
//! A part is a whole path prefix: `bsp` selects the key `bsp` itself and
//! every key under `bsp/`, never `bspx/…` or `bsp.json` (the original
//! matched raw string prefixes; see docs/compat.md).

use pv_types::{in_part, State};

/// Parts to take and parts to drop, as written in `p1,p2,-p3`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parts {
    /// Parts to take (`p1,p2`); empty = everything.
    pub take: Vec<String>,
    /// Parts to drop from the target (`-p3`).
    pub drop: Vec<String>,
}

impl Parts {
    /// Parse a comma-separated list: `-p` drops `p`, anything else takes
    /// it. Blanks around names and trailing `/` are ignored, as are empty
    /// entries.
    pub fn parse(list: &str) -> Parts {
        let mut parts = Parts::default();
        for item in list.split(',').map(str::trim) {
            let (into, name) = match item.strip_prefix('-') {
                Some(d) => (&mut parts.drop, d),
                None => (&mut parts.take, item),
            };
            let name = name.trim().trim_end_matches('/');
            if !name.is_empty() {
                into.push(name.to_string());
            }
        }
        parts
    }

    /// True if nothing was named.
    pub fn is_empty(&self) -> bool {
        self.take.is_empty() && self.drop.is_empty()
    }

    /// True if `key` is in one of the taken parts (any key when none is named).
    pub fn takes(&self, key: &str) -> bool {
        self.take.is_empty() || in_any(key, &self.take)
    }

    /// True if `key` is in one of the dropped parts.
    pub fn drops(&self, key: &str) -> bool {
        in_any(key, &self.drop)
    }

    /// The keys of `state` in the taken parts (all of them when none is
    /// named); `#spec` is always kept.
    pub fn select(&self, state: &State) -> State {
        keep(state, |k| self.takes(k))
    }

    /// `state` without the keys of the dropped parts (`#spec` is kept).
    pub fn without_dropped(&self, state: &State) -> State {
        keep(state, |k| !self.drops(k))
    }

    /// `state` without the keys of the taken parts (`#spec` is kept).
    pub fn without_taken(&self, state: &State) -> State {
        keep(state, |k| self.take.is_empty() || !in_any(k, &self.take))
    }
}

/// True if `key` is one of `parts` or lies under one of them.
pub fn in_any(key: &str, parts: &[String]) -> bool {
    parts.iter().any(|p| in_part(key, p))
}

fn keep(state: &State, f: impl Fn(&str) -> bool) -> State {
    let mut s = state.clone();
    s.as_map_mut().retain(|k, _| k == "#spec" || f(k));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(s: &State) -> Vec<&str> {
        s.keys().map(String::as_str).collect()
    }

    fn trap_state() -> State {
        State::from_slice(
            br##"{"#spec":"S","bsp":"x","bsp/run.json":{},"bsp/sub/k.img":"x","bspx/a":"x",
                 "bsp.json":{},"bsp-extra/b":"x","_config/bsp/c":"x","_config/bspx/d":"x",
                 "app/bsp/e":"x","app/run.json":{}}"##,
        )
        .unwrap()
    }

    #[test]
    fn parse_takes_drops_and_normalises() {
        let p = Parts::parse(" app, -bsp/ ,,_config/app/ ,-");
        assert_eq!(p.take, ["app", "_config/app"]);
        assert_eq!(p.drop, ["bsp"]);
        assert!(Parts::parse("").is_empty());
        assert!(Parts::parse(",/ ,").is_empty());
    }

    #[test]
    fn a_part_is_a_whole_path_prefix() {
        let s = trap_state();
        let p = Parts::parse("bsp");
        assert_eq!(
            keys(&p.select(&s)),
            ["#spec", "bsp", "bsp/run.json", "bsp/sub/k.img"]
        );
        for k in [
            "bspx/a",
            "bsp.json",
            "bsp-extra/b",
            "_config/bsp/c",
            "app/bsp/e",
        ] {
            assert!(!p.takes(k), "{k}");
        }
        let p = Parts::parse("_config/bsp");
        assert_eq!(keys(&p.select(&s)), ["#spec", "_config/bsp/c"]);
        let p = Parts::parse("bsp/sub");
        assert_eq!(keys(&p.select(&s)), ["#spec", "bsp/sub/k.img"]);
    }

    #[test]
    fn drops_are_whole_path_prefixes_too() {
        let s = trap_state();
        let p = Parts::parse("app,-bsp");
        assert_eq!(keys(&p.select(&s)), ["#spec", "app/bsp/e", "app/run.json"]);
        let kept = p.without_dropped(&s);
        assert!(kept.contains_key("bspx/a") && kept.contains_key("bsp.json"));
        assert!(kept.contains_key("bsp-extra/b") && kept.contains_key("app/bsp/e"));
        assert!(!kept.contains_key("bsp") && !kept.contains_key("bsp/run.json"));
        let rest = p.without_taken(&s);
        assert!(!rest.contains_key("app/run.json") && rest.contains_key("bspx/a"));
        assert!(rest.contains_key("#spec"));
    }

    #[test]
    fn no_parts_takes_everything() {
        let s = trap_state();
        let p = Parts::parse("-bsp");
        assert_eq!(p.select(&s).len(), s.len());
        assert_eq!(p.without_taken(&s).len(), s.len());
    }
}
