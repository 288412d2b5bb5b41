//! Small operations on states by part.

use pv_types::State;

/// True if `key` lies in any of `parts` (the part itself or under `part/`).
pub fn in_any_part(key: &str, parts: &[String]) -> bool {
    parts.iter().any(|p| pv_types::in_part(key, p))
}

/// `state` without the keys of `parts` (`#spec` is kept).
pub fn drop_parts(state: &State, parts: &[String]) -> State {
    let mut s = state.clone();
    s.as_map_mut()
        .retain(|k, _| k == "#spec" || !in_any_part(k, parts));
    s
}
