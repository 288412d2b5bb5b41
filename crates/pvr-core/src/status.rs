//! `pvr status` and `pvr diff`: the merge patch from the committed state to
//! the working state.

use pv_types::State;
use serde_json::{Map, Value};

use crate::working::Working;

/// One line of `pvr status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusLine {
    /// `A` added, `D` deleted, `C` changed, `?` untracked.
    pub kind: char,
    pub path: String,
}

/// The RFC 7386 merge patch from `pristine` to `working`.
pub fn diff(pristine: &State, working: &State) -> Map<String, Value> {
    pv_json::merge_patch::create(pristine.as_map(), working.as_map())
}

/// Status lines: added, deleted, changed (each sorted by path), then
/// untracked files in walk order.
pub fn status(pristine: &State, working: &Working) -> Vec<StatusLine> {
    let patch = diff(pristine, &working.state);
    let (mut a, mut d, mut c) = (vec![], vec![], vec![]);
    for (k, v) in &patch {
        if v.is_null() {
            d.push(k.clone());
        } else if pristine.contains_key(k) {
            c.push(k.clone());
        } else {
            a.push(k.clone());
        }
    }
    let mut out = vec![];
    for (kind, list) in [('A', a), ('D', d), ('C', c)] {
        out.extend(list.into_iter().map(|path| StatusLine { kind, path }));
    }
    out.extend(working.untracked.iter().map(|p| StatusLine {
        kind: '?',
        path: p.clone(),
    }));
    out
}
