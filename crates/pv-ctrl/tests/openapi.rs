//! `openapi.json` documents exactly the routes the router knows.

use std::collections::BTreeSet;

use pv_ctrl::routes::{Access, ROUTES};
use serde_json::Value;

fn doc() -> Value {
    let text = include_str!("../openapi.json");
    serde_json::from_str(text).expect("openapi.json is JSON")
}

#[test]
fn every_route_is_documented_and_vice_versa() {
    let doc = doc();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.template.to_string()))
        .collect();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from openapi.json: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "documented but not routed: {unrouted:?}"
    );
}

fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let ptr = r.trim_start_matches('#');
            doc.pointer(ptr).unwrap_or_else(|| panic!("dangling {r}"))
        }
        None => v,
    }
}

#[test]
fn parameters_access_and_refs_agree() {
    let doc = doc();
    for route in ROUTES {
        let op = &doc["paths"][route.template][route.method.to_lowercase()];
        let holes: Vec<&str> = route
            .template
            .split('/')
            .filter(|s| s.starts_with('{'))
            .map(|s| s.trim_matches(|c| c == '{' || c == '}'))
            .collect();
        let declared: Vec<&str> = op["parameters"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| resolve(&doc, p)["name"].as_str().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(holes, declared, "{} {}", route.method, route.template);
        let access = op["x-pv-access"].as_str().unwrap();
        let has_403 = op["responses"].get("403").is_some();
        match route.access {
            Access::Any => assert_eq!(access, "any container", "{}", route.template),
            Access::Mgmt => assert!(has_403, "{} {} lacks 403", route.method, route.template),
        }
        for resp in op["responses"].as_object().unwrap().values() {
            if let Some(schema) = resp.pointer("/content/application~1json/schema") {
                resolve(&doc, schema);
            }
        }
    }
}
