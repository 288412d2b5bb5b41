//! `run.json` of the `builtin-lxc-docker` template.
//!
//! The members and their values follow the original template; the text is
//! TAB-indented JSON in the template's member order. (run.json becomes an
//! inline JSON value of the state, so only its value is compared.)

use serde_json::{Map, Value};

use crate::go_json::{marshal_ordered, Ordered};
use crate::template::{text, truthy, volume_name, TemplateInput};

/// The run.json value as ordered members.
pub fn run_json_members(t: &TemplateInput) -> Vec<(&'static str, Value)> {
    let data = t.is_data();
    let mut m: Vec<(&'static str, Value)> = vec![
        ("#spec", "service-manifest-run@1".into()),
        ("name", t.name.clone().into()),
    ];
    if !data {
        m.push(("config", "lxc.container.conf".into()));
    }
    for (key, member) in [
        ("PV_CONDITIONS", "conditions"),
        ("PV_AUTOMODFW", "automodfw"),
        ("PV_REMOUNT", "remount"),
    ] {
        if t.arg_true(key) {
            m.push((member, t.arg(key).cloned().unwrap_or(Value::Null)));
        }
    }
    let mut drivers = Map::new();
    for (member, key) in [
        ("manual", "PV_DRIVERS_MANUAL"),
        ("required", "PV_DRIVERS_REQUIRED"),
        ("optional", "PV_DRIVERS_OPTIONAL"),
    ] {
        let v = match t.arg(key) {
            Some(v) if truthy(Some(v)) => v.clone(),
            _ => Value::Array(vec![]),
        };
        drivers.insert(member.into(), v);
    }
    m.push(("drivers", Value::Object(drivers)));
    // xconnect requirements (`PV_SERVICES_REQUIRED`, documented by the
    // manual; `PV_SERVICES_OPTIONAL` beside it): only when one is set
    let mut services = Map::new();
    for (member, key) in [
        ("required", "PV_SERVICES_REQUIRED"),
        ("optional", "PV_SERVICES_OPTIONAL"),
    ] {
        if let Some(v) = t.arg(key).filter(|v| truthy(Some(v))) {
            services.insert(member.into(), v.clone());
        }
    }
    if !services.is_empty() {
        m.push(("services", Value::Object(services)));
    }
    if let Some(g) = &t.effective_group {
        m.push(("group", g.clone().into()));
    }
    for (key, member) in [
        ("PV_RUNLEVEL", "runlevel"),
        ("PV_RESTART_POLICY", "restart_policy"),
        ("PV_STATUS_GOAL", "status_goal"),
    ] {
        if t.arg_true(key) {
            m.push((member, text(t.arg(key).expect("checked")).into()));
        }
    }
    m.push(("storage", Value::Object(storage(t))));
    if !data {
        for key in ["exports", "logs"] {
            if let Some(v) = t.src.as_map().get(key).filter(|v| !v.is_null()) {
                m.push((key, v.clone()));
            }
        }
        m.push(("type", "lxc".into()));
        if t.arg_true("PV_ROLES") {
            m.push(("roles", t.arg("PV_ROLES").cloned().unwrap_or(Value::Null)));
        }
    }
    let root = if t.has_ovl() && t.src.str("base").is_some() {
        "root.ovl.squashfs"
    } else {
        "root.squashfs"
    };
    m.push(("root-volume", format!("{}{root}", t.dm_prefix(root)).into()));
    m.push(("volumes", Value::Array(volumes(t))));
    m
}

/// The storage object: docker volumes and `persistence`, plus `lxc-overlay`.
fn storage(t: &TemplateInput) -> Map<String, Value> {
    let entry = |value: &str| -> Value {
        let mut e = Map::new();
        let parts: Vec<&str> = value.split('@').collect();
        if parts.len() == 1 {
            let p = if value.is_empty() { "built-in" } else { value };
            e.insert("persistence".into(), p.into());
        } else {
            e.insert("persistence".into(), parts[0].into());
            e.insert("disk".into(), parts[parts.len() - 1].into());
        }
        Value::Object(e)
    };
    let mut out = Map::new();
    let merged = t.storage();
    for (k, v) in &merged {
        if k != "lxc-overlay" {
            out.insert(volume_name(k), entry(v));
        }
    }
    let overlay = match merged.get("lxc-overlay") {
        Some(v) if !v.is_empty() => entry(v),
        _ => entry("boot"),
    };
    out.insert("lxc-overlay".into(), overlay);
    out
}

/// `volumes`: `PV_EXTRA_VOLUMES`, the volumes of `PV_VOLUME_MOUNTS`, and the
/// overlay image when it is not layered on a base app.
fn volumes(t: &TemplateInput) -> Vec<Value> {
    let mut v: Vec<String> = vec![];
    if t.arg_true("PV_EXTRA_VOLUMES") {
        v.extend(
            t.arg_or("PV_EXTRA_VOLUMES", "")
                .split(',')
                .map(String::from),
        );
    }
    if t.arg_true("PV_VOLUME_MOUNTS") {
        for m in t.arg_or("PV_VOLUME_MOUNTS", "").split(',') {
            v.push(m.split(':').next().unwrap_or("").to_string());
        }
    }
    if t.has_ovl() && t.src.str("base").is_none() {
        v.push("root.ovl.squashfs".into());
    }
    v.into_iter()
        .map(|name| Value::String(format!("{}{name}", t.dm_prefix(&name))))
        .collect()
}

/// The run.json text.
pub fn render_run_json(t: &TemplateInput) -> String {
    let members = run_json_members(t);
    let ordered = Ordered {
        members: members.iter().map(|(k, v)| (*k, v)).collect(),
    };
    marshal_ordered(&ordered, "", "\t")
}
