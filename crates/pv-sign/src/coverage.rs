//! Coverage of a state by its signatures, for the device's `strict` and
//! `audit` secure-boot modes: every key outside `_sigs/` must be matched by
//! an include or an exclude pattern of some signature.

use pv_types::State;

use crate::error::ErrorKind;
use crate::glob::compile;
use crate::header::PvsMatch;
use crate::jws::{is_pvs2, SigFile};

/// Every pvs@2 value of `state` (any key, not only `_sigs/`), parsed.
pub fn state_signatures(state: &State) -> Vec<(String, Result<SigFile, ErrorKind>)> {
    state
        .iter()
        .filter(|(_, v)| is_pvs2(v))
        .map(|(k, v)| (k.clone(), SigFile::from_value(v, k)))
        .collect()
}

/// Keys of `state` outside `_sigs/` that no rule set covers, sorted
/// (doublestar matching, as pvr selects payloads).
pub fn uncovered_keys(state: &State, rules: &[PvsMatch]) -> Result<Vec<String>, ErrorKind> {
    let mut globs = Vec::new();
    for r in rules {
        globs.extend(compile(&r.include)?);
        globs.extend(compile(&r.exclude)?);
    }
    Ok(state
        .keys()
        .filter(|k| !k.starts_with("_sigs/"))
        .filter(|k| !globs.iter().any(|g| g.matches(k)))
        .cloned()
        .collect())
}

/// [`uncovered_keys`] with the rules of every signature found in `state`.
/// Signatures that do not parse cover nothing.
pub fn uncovered_by_state_signatures(state: &State) -> Result<Vec<String>, ErrorKind> {
    let rules: Vec<PvsMatch> = state_signatures(state)
        .into_iter()
        .filter_map(|(_, s)| s.ok())
        .map(|s| s.header.pvs())
        .collect();
    uncovered_keys(state, &rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_coverage() {
        let state = State::from_slice(
            br##"{"#spec":"x","_sigs/a.json":{},"a/x":"1","a/src.json":{},"b/y":"2"}"##,
        )
        .unwrap();
        let rules = [PvsMatch::new(["a/**"], ["a/src.json", "_sigs/a.json"])];
        assert_eq!(uncovered_keys(&state, &rules).unwrap(), ["#spec", "b/y"]);
        assert_eq!(
            uncovered_keys(&state, &[]).unwrap(),
            ["#spec", "a/src.json", "a/x", "b/y"]
        );
    }
}
