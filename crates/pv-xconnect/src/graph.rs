//! The graph of a revision: what its providers export (`<c>/services.json`,
//! `service-manifest-xconnect@1`), what its consumers need (the `services`
//! block of `<c>/run.json`), and the links between them that
//! `GET /xconnect-graph` serves (spec §12).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;

/// The `#spec` of a provider manifest.
pub const SPEC: &str = "service-manifest-xconnect@1";

/// The service types the mesh knows (`input` is parsed, never injected).
pub const TYPES: [&str; 6] = ["unix", "rest", "dbus", "drm", "wayland", "input"];

/// The role of a requirement that names none.
pub const DEFAULT_ROLE: &str = "any";

/// The service name (and bus name) of the hosted D-Bus system bus.
pub const HOSTED_BUS: &str = "system-bus";
/// The provider of hosted-bus links in the graph (pid 0).
pub const HOSTED_PROVIDER: &str = "_pv_";

/// One service of a provider's `services.json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Export {
    /// Absent on hosted-bus entries, which only declare an owned name.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    /// Path of the socket (or device node) inside the provider.
    #[serde(default)]
    pub socket: Option<String>,
    /// Hosted-bus entries: the bus the name lives on (`system-bus`).
    #[serde(default)]
    pub bus: Option<String>,
    /// D-Bus: the well-known name the provider owns.
    #[serde(default)]
    pub owns: Option<String>,
    /// D-Bus: the role owning `owns`.
    #[serde(default)]
    pub role: Option<String>,
    /// D-Bus: the caller roles allowed to call `owns`.
    #[serde(default)]
    pub allow: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct Manifest {
    #[serde(rename = "#spec", default)]
    spec: Option<String>,
    #[serde(default)]
    services: Vec<Export>,
}

/// One requirement of a consumer's `run.json` `services` block.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Requirement {
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub interface: Option<String>,
    /// From `required` (true) or `optional` (false).
    #[serde(skip)]
    pub required: bool,
}

#[derive(Debug, Default, Deserialize)]
struct Services {
    #[serde(default)]
    required: Vec<Requirement>,
    #[serde(default)]
    optional: Vec<Requirement>,
}

/// One link of `GET /xconnect-graph`, in the original's member order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub consumer: String,
    pub consumer_pid: i32,
    pub provider: String,
    pub provider_pid: i32,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub role: String,
    pub interface: String,
    pub target: String,
    pub socket: String,
    /// D-Bus exports naming an owned name and the roles allowed to call it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owns: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<String>>,
    /// Hosted-bus links: the uid the role authenticates as on the bus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
}

/// The hosted system bus as the graph needs it: where its socket is (on
/// the host) and the uid of each role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostedBus {
    pub socket: String,
    pub uids: BTreeMap<String, u32>,
}

impl Link {
    /// Whether the link goes to the hosted bus (a host socket, no
    /// provider container).
    pub fn is_hosted(&self) -> bool {
        self.provider == HOSTED_PROVIDER && self.provider_pid == 0
    }

    /// What identifies a link across polls: who, what and where.
    pub fn key(&self) -> (String, String, String) {
        (
            self.consumer.clone(),
            self.name.clone(),
            self.target.clone(),
        )
    }
}

/// A requirement nobody exports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub consumer: String,
    pub name: String,
    pub required: bool,
}

/// The static graph of a revision (pids come from the running containers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevisionGraph {
    /// Provider → its exports.
    pub exports: BTreeMap<String, Vec<Export>>,
    /// Consumer → its requirements.
    pub requirements: BTreeMap<String, Vec<Requirement>>,
}

/// An absolute path inside a container, without `..` or empty parts.
fn check_path(container: &str, what: &str, p: &str) -> Result<(), Error> {
    let rel = p.strip_prefix('/').unwrap_or("");
    if rel.is_empty() || pv_fs::validate_rel_path(rel).is_err() {
        return Err(Error::Manifest(
            container.into(),
            format!("{what} {p:?} is not an absolute path inside the container"),
        ));
    }
    Ok(())
}

impl RevisionGraph {
    /// Read the graph of a state: `(key, value)` pairs of its JSON.
    pub fn from_state<'a>(
        entries: impl IntoIterator<Item = (&'a String, &'a Value)>,
    ) -> Result<RevisionGraph, Error> {
        let mut g = RevisionGraph::default();
        for (k, v) in entries {
            if let Some(c) = k.strip_suffix("/services.json") {
                if c.contains('/') || c == "bsp" {
                    continue;
                }
                g.exports.insert(c.into(), parse_manifest(c, v)?);
            } else if let Some(c) = k.strip_suffix("/run.json") {
                if c.contains('/') || c == "bsp" {
                    continue;
                }
                if let Some(s) = v.get("services") {
                    let r = parse_requirements(c, s)?;
                    if !r.is_empty() {
                        g.requirements.insert(c.into(), r);
                    }
                }
            }
        }
        Ok(g)
    }

    /// The exports another container offers for `r`.
    fn providers<'a>(
        &'a self,
        consumer: &'a str,
        r: &'a Requirement,
    ) -> impl Iterator<Item = (&'a String, &'a Export)> + 'a {
        self.exports
            .iter()
            .filter(move |(p, _)| p.as_str() != consumer)
            .flat_map(|(p, es)| es.iter().map(move |e| (p, e)))
            .filter(move |(_, e)| {
                e.name.as_deref() == Some(r.name.as_str())
                    && e.socket.is_some()
                    && r.kind.as_ref().is_none_or(|k| *k == e.kind)
            })
    }

    /// Requirements nobody serves: no other container exports them and,
    /// with `hosted` (the hosted bus is enabled), they are not the
    /// `system-bus` (`required` ones fail the revision; optional ones are
    /// only reported).
    pub fn missing(&self, hosted: bool) -> Vec<Missing> {
        let mut out = vec![];
        for (c, rs) in &self.requirements {
            for r in rs {
                if !(hosted && on_hosted_bus(r)) && self.providers(c, r).next().is_none() {
                    out.push(Missing {
                        consumer: c.clone(),
                        name: r.name.clone(),
                        required: r.required,
                    });
                }
            }
        }
        out
    }

    /// One link per (requirement × matching export), with the pids
    /// `pid_of` gives (0: not running); with `hosted`, one link to the
    /// hosted bus per requirement of the `system-bus` whose role has a uid.
    pub fn links(&self, pid_of: impl Fn(&str) -> i32, hosted: Option<&HostedBus>) -> Vec<Link> {
        let mut out = vec![];
        for (c, rs) in &self.requirements {
            for r in rs {
                if let Some(h) = hosted.filter(|_| on_hosted_bus(r)) {
                    let role = r.role.clone().unwrap_or_else(|| DEFAULT_ROLE.into());
                    let Some(uid) = h.uids.get(&role) else {
                        continue;
                    };
                    out.push(Link {
                        consumer: c.clone(),
                        consumer_pid: pid_of(c),
                        provider: HOSTED_PROVIDER.into(),
                        provider_pid: 0,
                        name: r.name.clone(),
                        kind: "dbus".into(),
                        role,
                        interface: r.interface.clone().unwrap_or_else(|| "dbus".into()),
                        target: r
                            .target
                            .clone()
                            .unwrap_or_else(|| DEFAULT_BUS_TARGET.into()),
                        socket: h.socket.clone(),
                        owns: None,
                        allow: None,
                        uid: Some(*uid),
                    });
                    continue;
                }
                for (p, e) in self.providers(c, r) {
                    let socket = e.socket.clone().unwrap_or_default();
                    out.push(Link {
                        consumer: c.clone(),
                        consumer_pid: pid_of(c),
                        provider: p.clone(),
                        provider_pid: pid_of(p),
                        name: r.name.clone(),
                        kind: e.kind.clone(),
                        role: r.role.clone().unwrap_or_else(|| DEFAULT_ROLE.into()),
                        interface: r.interface.clone().unwrap_or_else(|| e.kind.clone()),
                        target: r.target.clone().unwrap_or_else(|| socket.clone()),
                        socket,
                        owns: e.owns.clone(),
                        allow: e.allow.clone(),
                        uid: None,
                    });
                }
            }
        }
        out
    }
}

/// Where a hosted-bus requirement without `target` gets the bus.
pub const DEFAULT_BUS_TARGET: &str = "/run/dbus/system_bus_socket";

/// Whether requirement `r` is served by the hosted bus (when enabled).
pub(crate) fn on_hosted_bus(r: &Requirement) -> bool {
    r.name == HOSTED_BUS && r.kind.as_deref().is_none_or(|k| k == "dbus")
}

fn parse_manifest(c: &str, v: &Value) -> Result<Vec<Export>, Error> {
    let m: Manifest = serde_json::from_value(v.clone())
        .map_err(|e| Error::Manifest(c.into(), format!("services.json: {e}")))?;
    if m.spec.as_deref().is_some_and(|s| s != SPEC) {
        return Err(Error::Manifest(
            c.into(),
            format!("services.json: #spec is not {SPEC}"),
        ));
    }
    for e in &m.services {
        let name = e.name.as_deref().or(e.owns.as_deref()).unwrap_or("");
        if name.is_empty() {
            return Err(Error::Manifest(
                c.into(),
                "services.json: a service with neither name nor owns".into(),
            ));
        }
        if !TYPES.contains(&e.kind.as_str()) {
            return Err(Error::Manifest(
                c.into(),
                format!("service {name}: unknown type {:?}", e.kind),
            ));
        }
        if let Some(s) = &e.socket {
            check_path(c, "socket", s)?;
        }
    }
    Ok(m.services)
}

fn parse_requirements(c: &str, v: &Value) -> Result<Vec<Requirement>, Error> {
    let s: Services = serde_json::from_value(v.clone())
        .map_err(|e| Error::Manifest(c.into(), format!("run.json services: {e}")))?;
    let mut out = vec![];
    for (mut r, required) in s
        .required
        .into_iter()
        .map(|r| (r, true))
        .chain(s.optional.into_iter().map(|r| (r, false)))
    {
        r.required = required;
        if let Some(k) = &r.kind {
            if !TYPES.contains(&k.as_str()) {
                return Err(Error::Manifest(
                    c.into(),
                    format!("service {}: unknown type {k:?}", r.name),
                ));
            }
        }
        if let Some(t) = &r.target {
            check_path(c, "target", t)?;
        }
        out.push(r);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state(v: Value) -> RevisionGraph {
        let m = v.as_object().unwrap();
        RevisionGraph::from_state(m.iter()).unwrap()
    }

    fn sample() -> Value {
        json!({
            "nm/services.json": {"#spec": SPEC, "services": [
                {"name": "network-manager", "type": "rest", "socket": "/run/nm/api.sock"},
                {"name": "system-bus", "type": "dbus", "socket": "/run/dbus/system_bus_socket",
                 "owns": "org.pv.Nm", "allow": ["admin"]}
            ]},
            "app/run.json": {"name": "app", "services": {
                "required": [{"name": "network-manager", "type": "rest", "target": "/run/api.sock", "role": "admin"}],
                "optional": [{"name": "system-bus", "interface": "org.pv.Nm"}, {"name": "gpu"}]
            }},
            "nm/run.json": {"name": "nm"}
        })
    }

    #[test]
    fn links_take_defaults_and_pids() {
        let g = state(sample());
        let pid = |c: &str| if c == "app" { 10 } else { 20 };
        let links = g.links(pid, None);
        assert_eq!(links.len(), 2);
        let rest = serde_json::to_string(&links[0]).unwrap();
        assert_eq!(
            rest,
            r#"{"consumer":"app","consumer_pid":10,"provider":"nm","provider_pid":20,"name":"network-manager","type":"rest","role":"admin","interface":"rest","target":"/run/api.sock","socket":"/run/nm/api.sock"}"#
        );
        let bus = &links[1];
        assert_eq!(bus.role, "any");
        assert_eq!(bus.interface, "org.pv.Nm");
        assert_eq!(bus.target, "/run/dbus/system_bus_socket");
        assert_eq!(bus.allow.as_deref(), Some(&["admin".to_string()][..]));
    }

    #[test]
    fn missing_requirements_are_reported_with_their_kind() {
        let g = state(sample());
        assert_eq!(
            g.missing(false),
            vec![Missing {
                consumer: "app".into(),
                name: "gpu".into(),
                required: false
            }]
        );
        let mut v = sample();
        v.as_object_mut().unwrap().remove("nm/services.json");
        let g = state(v);
        let m = g.missing(false);
        assert_eq!(m.len(), 3);
        assert!(m.iter().any(|m| m.name == "network-manager" && m.required));
    }

    #[test]
    fn a_type_mismatch_or_self_export_does_not_satisfy() {
        let g = state(json!({
            "a/services.json": {"#spec": SPEC, "services": [{"name": "s", "type": "unix", "socket": "/s"}]},
            "a/run.json": {"services": {"required": [{"name": "s"}]}},
            "b/run.json": {"services": {"required": [{"name": "s", "type": "rest"}]}}
        }));
        assert_eq!(g.missing(false).len(), 2);
        assert!(g.links(|_| 1, None).is_empty());
    }

    #[test]
    fn bad_manifests_are_refused() {
        for bad in [
            json!({"a/services.json": {"#spec": "other@1", "services": []}}),
            json!({"a/services.json": {"services": [{"name": "s", "type": "tcp", "socket": "/s"}]}}),
            json!({"a/services.json": {"services": [{"name": "s", "type": "unix", "socket": "rel"}]}}),
            json!({"a/services.json": {"services": [{"type": "unix"}]}}),
            json!({"a/run.json": {"services": {"required": [{"name": "s", "target": "/x/../../etc"}]}}}),
            json!({"a/run.json": {"services": {"required": "s"}}}),
        ] {
            let m = bad.as_object().unwrap();
            assert!(RevisionGraph::from_state(m.iter()).is_err(), "{bad}");
        }
    }
}
