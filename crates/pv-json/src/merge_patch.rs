//! RFC 7386 JSON merge patches, with the conventions of pvr.
//!
//! * [`create`] gives the patch that turns `original` into `modified`:
//!   removed members become `null`, nested objects become partial patches,
//!   arrays and scalars are replaced whole. Numbers compare by exact value.
//! * [`apply`] applies a patch; like pvr, `null`s inside values that are
//!   added or replaced are pruned (members removed, array elements dropped).

use serde_json::{Map, Value};

use crate::values_equal;

/// The merge patch from `original` to `modified` (both objects). Returns an
/// empty object when they are equal.
pub fn create(original: &Map<String, Value>, modified: &Map<String, Value>) -> Map<String, Value> {
    let mut patch = Map::new();
    for (k, new) in modified {
        match original.get(k) {
            None => {
                patch.insert(k.clone(), new.clone());
            }
            Some(Value::Object(old)) if new.is_object() => {
                let sub = create(old, new.as_object().expect("object"));
                if !sub.is_empty() {
                    patch.insert(k.clone(), Value::Object(sub));
                }
            }
            Some(old) => {
                if !values_equal(old, new) {
                    patch.insert(k.clone(), new.clone());
                }
            }
        }
    }
    for k in original.keys() {
        if !modified.contains_key(k) {
            patch.insert(k.clone(), Value::Null);
        }
    }
    patch
}

/// Apply `patch` to `target` in place.
pub fn apply(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (k, p) in patch {
        if p.is_null() {
            target.remove(k);
            continue;
        }
        match target.get_mut(k) {
            Some(Value::Object(cur)) => match p {
                Value::Object(pm) => apply(cur, pm),
                // replacing an object by a non-object keeps the patch as is
                other => {
                    target.insert(k.clone(), other.clone());
                }
            },
            _ => {
                let mut v = p.clone();
                prune_nulls(&mut v);
                target.insert(k.clone(), v);
            }
        }
    }
}

/// Remove null members from objects and null elements from arrays, deeply.
pub fn prune_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(prune_nulls);
        }
        Value::Array(a) => {
            a.retain(|x| !x.is_null());
            a.iter_mut().for_each(prune_nulls);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse, to_canonical_string};

    fn obj(s: &str) -> Map<String, Value> {
        parse(s.as_bytes()).unwrap().as_object().unwrap().clone()
    }

    #[test]
    fn create_reports_changes_deletions_and_nested_patches() {
        let a = obj(r#"{"x":{"k":1,"gone":2,"arr":[1,2]},"y":"s","z":3}"#);
        let b = obj(r#"{"x":{"k":2,"arr":[1],"new":true},"y":"s","w":1}"#);
        let p = create(&a, &b);
        assert_eq!(
            to_canonical_string(&Value::Object(p.clone())),
            r#"{"w":1,"x":{"arr":[1],"gone":null,"k":2,"new":true},"z":null}"#
        );
        let mut t = a.clone();
        apply(&mut t, &p);
        assert!(values_equal(&Value::Object(t), &Value::Object(b)));
    }

    #[test]
    fn apply_prunes_nulls_like_pvr() {
        let mut t = obj(r#"{"m":{"k":1,"n":5}}"#);
        let p = obj(r#"{"m":{"k":2,"n":null},"new":{"y":[1,null,2,[null],{"x":null}]}}"#);
        apply(&mut t, &p);
        assert_eq!(
            to_canonical_string(&Value::Object(t)),
            r#"{"m":{"k":2},"new":{"y":[1,2,[],{}]}}"#
        );
    }

    #[test]
    fn equal_documents_give_empty_patch() {
        let a = obj(r#"{"n":1e3,"s":[0.5]}"#);
        let b = obj(r#"{"s":[5E-1],"n":1000}"#);
        assert!(create(&a, &b).is_empty());
    }
}
