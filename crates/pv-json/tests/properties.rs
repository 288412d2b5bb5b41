//! Properties of the canonical form and of merge patches on random JSON.

use proptest::prelude::*;
use pv_json::{merge_patch, parse, to_canonical_string, values_equal, Value};

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (any::<i32>(), 0u32..6, -30i32..30)
            .prop_map(|(m, f, e)| format!("{m}.{}e{e}", "5".repeat(f as usize + 1))),
        "[1-9][0-9]{0,30}",
        // exponents far below any value, up to wider than i64
        (any::<i32>(), any::<u64>(), "[0-9]{0,8}")
            .prop_map(|(m, e, more)| format!("{m}e-{e}{more}")),
        // around the edges of the kept range
        (
            any::<i32>(),
            -(pv_json::MAX_EXP + 20)..-(pv_json::MAX_EXP - 20)
        )
            .prop_map(|(m, e)| format!("{m}E{e}")),
    ]
}

/// Literals beyond the largest exponent.
fn huge_number() -> impl Strategy<Value = String> {
    prop_oneof![
        (1u32..1000, "[1-9][0-9]{19,30}").prop_map(|(m, e)| format!("{m}e{e}")),
        (1u32..1000, pv_json::MAX_EXP..i64::MAX).prop_map(|(m, e)| format!("-{m}e+{e}")),
    ]
}

fn json(allow_null: bool) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        number().prop_map(|n| parse(n.as_bytes()).unwrap()),
        "[a-z<>&/\\\\\"\u{1}\u{e9}\u{20ac} ]{0,8}".prop_map(Value::String),
        Just(if allow_null {
            Value::Null
        } else {
            Value::Bool(false)
        }),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-z#_/.]{1,6}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn object(allow_null: bool) -> impl Strategy<Value = serde_json::Map<String, Value>> {
    prop::collection::btree_map("[a-z/]{1,6}", json(allow_null), 0..6)
        .prop_map(|m| m.into_iter().collect())
}

proptest! {
    #[test]
    fn canonical_is_a_fixed_point(v in json(true)) {
        let c = to_canonical_string(&v);
        let again = to_canonical_string(&parse(c.as_bytes()).unwrap());
        prop_assert_eq!(&c, &again);
        prop_assert!(values_equal(&v, &parse(c.as_bytes()).unwrap()));
    }

    #[test]
    fn canonical_numbers_keep_their_value(n in number()) {
        let c = pv_json::canonical_number(&n);
        let a: f64 = n.parse().unwrap();
        let b: f64 = c.parse().unwrap();
        prop_assert!(a == b || (a - b).abs() <= a.abs() * 1e-15, "{} -> {}", n, c);
    }

    #[test]
    fn numbers_beyond_the_range_are_refused(n in huge_number()) {
        prop_assert!(parse(n.as_bytes()).is_err(), "{}", n);
        prop_assert!(!pv_json::number_in_range(&n));
    }

    #[test]
    fn a_patch_turns_one_document_into_the_other(a in object(false), b in object(false)) {
        let p = merge_patch::create(&a, &b);
        let mut t = a.clone();
        merge_patch::apply(&mut t, &p);
        prop_assert!(values_equal(&Value::Object(t), &Value::Object(b)));
    }

    #[test]
    fn no_patch_between_equal_documents(a in object(true)) {
        prop_assert!(merge_patch::create(&a, &a).is_empty());
    }
}
