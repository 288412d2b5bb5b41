//! The inputs of the `builtin-lxc-docker` template and the value helpers
//! that mirror Go `text/template` semantics (truthiness, `%v` printing,
//! `range`), shared by [`crate::template_run`] and [`crate::template_lxc`].

use std::collections::BTreeMap;

use pv_types::State;
use serde_json::{Map, Value};

use crate::src_json::Source;

/// Everything the template sees.
#[derive(Debug, Clone)]
pub struct TemplateInput {
    /// The app name (`.Source.name`).
    pub name: String,
    /// src.json (`.Source`).
    pub src: Source,
    /// `docker_config` with the non-null members of `config` on top (`.Docker`).
    pub docker: Map<String, Value>,
    /// `PV_GROUP`, or the default group when neither group nor runlevel is set.
    pub effective_group: Option<String>,
}

/// Messages and warnings produced while preparing the template input,
/// worded like the original's stderr lines.
#[derive(Debug, Clone, Default)]
pub struct Notes {
    pub messages: Vec<String>,
    pub warnings: Vec<String>,
}

/// The group names of the pristine state: a top-level `groups.json`, or
/// else the `groups` of `device.json`.
pub fn state_groups(state: &State) -> Vec<String> {
    let from = |v: Option<&Value>| -> Option<Vec<String>> {
        let arr = v?.as_array()?;
        Some(
            arr.iter()
                .filter_map(|g| g.get("name")?.as_str().map(String::from))
                .collect(),
        )
    };
    from(state.get("groups.json"))
        .or_else(|| from(state.get("device.json").and_then(|d| d.get("groups"))))
        .unwrap_or_default()
}

/// Build the template input for app `name` from its recipe.
pub fn prepare(name: &str, src: &Source, pristine: &State) -> (TemplateInput, Notes) {
    let mut notes = Notes::default();
    let mut docker = src.object("docker_config").cloned().unwrap_or_default();
    if let Some(cfg) = src.object("config") {
        for (k, v) in cfg {
            if !v.is_null() {
                docker.insert(k.clone(), v.clone());
            }
        }
    }
    let args = src.args();
    let groups = state_groups(pristine);
    let group = args.get("PV_GROUP").map(text).filter(|s| !s.is_empty());
    let runlevel = args.get("PV_RUNLEVEL").map(text).filter(|s| !s.is_empty());
    if let Some(g) = &group {
        notes
            .messages
            .push(format!("Setting new platform to group \"{g}\""));
    }
    if let Some(r) = &runlevel {
        notes
            .messages
            .push(format!("Setting new platform to runlevel \"{r}\""));
        notes.warnings.push(
            "using deprecated runlevel. Use --group instead for Pantavisor 015 or above".into(),
        );
        if !groups.is_empty() {
            notes
                .warnings
                .push("PV_RUNLEVEL used and groups.json found at the same time".into());
        }
    }
    let mut effective_group = group.clone();
    if let Some(g) = &group {
        if !groups.iter().any(|x| x == g) {
            notes
                .warnings
                .push("group does not exist in groups.json".into());
        }
    }
    if group.is_none() && runlevel.is_none() {
        if let Some(last) = groups.last() {
            notes
                .messages
                .push(format!("Setting new platform to default group \"{last}\""));
            effective_group = Some(last.clone());
        }
    }
    let input = TemplateInput {
        name: name.to_string(),
        src: src.clone(),
        docker,
        effective_group,
    };
    (input, notes)
}

impl TemplateInput {
    /// A template argument (`.Source.args.<key>`).
    pub fn arg(&self, key: &str) -> Option<&Value> {
        self.src
            .as_map()
            .get("args")
            .and_then(|a| a.get(key))
            .filter(|v| !v.is_null())
    }

    /// Go truthiness of an argument.
    pub fn arg_true(&self, key: &str) -> bool {
        truthy(self.arg(key))
    }

    /// An argument printed with `%v`, or `default` when unset or empty
    /// (`pvr_ifNull`).
    pub fn arg_or(&self, key: &str, default: &str) -> String {
        match self.arg(key).map(text) {
            Some(s) if !s.is_empty() => s,
            _ => default.to_string(),
        }
    }

    /// A data-only container: `PV_RUNLEVEL=data` or `PV_STATUS_GOAL=MOUNTED`.
    /// It gets no lxc.container.conf and no `type`/`config` in run.json.
    pub fn is_data(&self) -> bool {
        self.arg("PV_RUNLEVEL").map(text).as_deref() == Some("data")
            || self.arg("PV_STATUS_GOAL").map(text).as_deref() == Some("MOUNTED")
    }

    /// `.Docker.<key>`.
    pub fn docker(&self, key: &str) -> Option<&Value> {
        self.docker.get(key).filter(|v| !v.is_null())
    }

    /// The overlay image (`root.ovl.squashfs`) is in use.
    pub fn has_ovl(&self) -> bool {
        self.src.str("docker_ovl_digest").is_some() || self.src.str("base").is_some()
    }

    /// `dm:` when `dm_enabled` marks the volume.
    pub fn dm_prefix(&self, volume: &str) -> &'static str {
        let on = self
            .src
            .object("dm_enabled")
            .and_then(|m| m.get(volume))
            .is_some_and(|v| v.as_bool() == Some(true));
        if on {
            "dm:"
        } else {
            ""
        }
    }

    /// The storage map: every `docker_config.Volumes` path with `permanent`,
    /// overridden by `persistence` (`pvr_mergePersistentMaps`), sorted.
    pub fn storage(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        if let Some(Value::Object(vols)) = self.docker("Volumes") {
            for k in vols.keys() {
                m.insert(k.clone(), "permanent".to_string());
            }
        }
        for (k, v) in self.src.persistence() {
            m.insert(k, v);
        }
        m
    }
}

/// The storage volume name of a path: `/a/b/` → `docker--a-b`,
/// `ovl:/a/b` → `dockerovl--a-b`.
pub fn volume_name(key: &str) -> String {
    let (scheme, path) = split_scheme(key);
    format!(
        "docker{scheme}-{}",
        path.strip_suffix('/').unwrap_or(path).replace('/', "-")
    )
}

/// The mount target of a storage path inside the rootfs (leading `/` removed).
pub fn mount_target(key: &str) -> &str {
    let (_, path) = split_scheme(key);
    path.strip_prefix('/').unwrap_or(path)
}

fn split_scheme(key: &str) -> (&str, &str) {
    match key.split_once(':') {
        Some((s, p)) if !s.is_empty() && !s.contains('/') => (s, p),
        _ => ("", key),
    }
}

/// Go template truthiness.
pub fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(m)) => !m.is_empty(),
        Some(Value::Number(n)) => pv_json::canonical_number(n.as_str()) != "0",
    }
}

/// A value printed the way `{{ . }}` prints it.
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.as_str().to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(text).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", text(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// The items a `range` visits: an array's elements; a lone string is
/// taken as one item (the original would fail to render).
pub fn items(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a.iter().map(text).collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_names() {
        assert_eq!(volume_name("/var/pvr-sdk"), "docker--var-pvr-sdk");
        assert_eq!(volume_name("/var/pvr-sdk/"), "docker--var-pvr-sdk");
        assert_eq!(volume_name("ovl:/tmp"), "dockerovl--tmp");
        assert_eq!(mount_target("ovl:/var/lib/x"), "var/lib/x");
        assert_eq!(mount_target("/data/"), "data/");
    }

    #[test]
    fn default_group_is_last_of_groups_json_then_device_json() {
        let st = State::from_slice(
            br##"{"#spec":"x","device.json":{"groups":[{"name":"data"},{"name":"app"}]}}"##,
        )
        .unwrap();
        let src = Source::new();
        let (i, n) = prepare("a", &src, &st);
        assert_eq!(i.effective_group.as_deref(), Some("app"));
        assert_eq!(
            n.messages,
            ["Setting new platform to default group \"app\""]
        );
        let st = State::from_slice(
            br##"{"#spec":"x","groups.json":[{"name":"root"},{"name":"platform"}],"device.json":{"groups":[{"name":"app"}]}}"##,
        )
        .unwrap();
        assert_eq!(
            prepare("a", &src, &st).0.effective_group.as_deref(),
            Some("platform")
        );
    }
}
