//! A revision's state as a tree (paths split at `/`) with sizes, and the
//! difference between two states.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// One entry of a state.
#[derive(Debug, Clone, PartialEq)]
pub enum Leaf {
    /// An object: its sha and size (None when the hub has no record).
    Object(String, Option<i64>),
    /// Inline JSON: its size as stored.
    Json(i64),
}

/// A folder of the tree.
#[derive(Debug, Default, PartialEq)]
pub struct Node {
    pub dirs: BTreeMap<String, Node>,
    pub files: BTreeMap<String, Leaf>,
    /// Bytes below (objects without a record count 0).
    pub total: i64,
}

impl Node {
    /// The tree of a state; `size_of` gives an object's size by sha.
    pub fn of(state: &Value, size_of: &dyn Fn(&str) -> Option<i64>) -> Node {
        let mut root = Node::default();
        let Some(map) = state.as_object() else {
            return root;
        };
        for (path, v) in map {
            let leaf = match v {
                Value::String(sha) if is_sha(sha) => Leaf::Object(sha.clone(), size_of(sha)),
                v => Leaf::Json(v.to_string().len() as i64),
            };
            root.insert(path.split('/').filter(|p| !p.is_empty()).collect(), leaf);
        }
        root
    }

    fn insert(&mut self, parts: Vec<&str>, leaf: Leaf) {
        let bytes = match &leaf {
            Leaf::Object(_, s) => s.unwrap_or(0),
            Leaf::Json(n) => *n,
        };
        self.total += bytes;
        match parts.split_first() {
            None => {}
            Some((name, [])) => {
                self.files.insert(name.to_string(), leaf);
            }
            Some((dir, rest)) => self
                .dirs
                .entry(dir.to_string())
                .or_default()
                .insert(rest.to_vec(), leaf),
        }
    }
}

fn is_sha(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// How one path differs between two states.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Added(Value),
    Removed(Value),
    Changed(Value, Value),
}

/// Every path whose value differs between `a` and `b`, sorted.
pub fn diff(a: &Value, b: &Value) -> Vec<(String, Change)> {
    let empty = serde_json::Map::new();
    let (a, b) = (
        a.as_object().unwrap_or(&empty),
        b.as_object().unwrap_or(&empty),
    );
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter_map(|k| {
            let c = match (a.get(k), b.get(k)) {
                (None, Some(v)) => Change::Added(v.clone()),
                (Some(v), None) => Change::Removed(v.clone()),
                (Some(x), Some(y)) if x != y => Change::Changed(x.clone(), y.clone()),
                _ => return None,
            };
            Some((k.clone(), c))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_state_becomes_a_tree_with_sizes() {
        let s = json!({
            "#spec": "pantavisor-service-system@1",
            "app/root.squashfs": "a".repeat(64),
            "app/run.json": {"name": "app"},
            "bsp/kernel.img": "b".repeat(64),
        });
        let t = Node::of(&s, &|sha| sha.starts_with('a').then_some(1000));
        assert_eq!(t.dirs.len(), 2);
        assert_eq!(t.files.len(), 1);
        let app = &t.dirs["app"];
        assert_eq!(
            app.files["root.squashfs"],
            Leaf::Object("a".repeat(64), Some(1000))
        );
        assert_eq!(app.total, 1000 + r#"{"name":"app"}"#.len() as i64);
        assert_eq!(
            t.dirs["bsp"].files["kernel.img"],
            Leaf::Object("b".repeat(64), None)
        );
        assert_eq!(
            t.total,
            app.total + r#""pantavisor-service-system@1""#.len() as i64
        );
    }

    #[test]
    fn diffs_name_added_removed_and_changed_paths() {
        let a = json!({"x": "1", "y": "2", "z": {"k": 1}});
        let b = json!({"x": "1", "y": "3", "w": "4"});
        let d = diff(&a, &b);
        assert_eq!(
            d,
            vec![
                ("w".into(), Change::Added(json!("4"))),
                ("y".into(), Change::Changed(json!("2"), json!("3"))),
                ("z".into(), Change::Removed(json!({"k": 1}))),
            ]
        );
    }
}
