//! The hosted D-Bus system bus (`system-bus`, `PV_XCONNECT_DBUS_SYSTEMBUS_ENABLED`):
//! one `dbus-daemon` the runtime runs on the host, reached by containers
//! only through their xconnect links (graph provider `_pv_`, pid 0).
//!
//! - Names: a provider declares `{"type":"dbus","bus":"system-bus",
//!   "owns":"<name>","role":"<owner role>","allow":[<caller roles>]}`; one
//!   owner per name; no container may export a service called
//!   `system-bus` while the hosted bus is on.
//! - Identity: every role gets a stable uid from a pool starting at
//!   [`ROLE_UID_BASE`], kept in `<storage>/config/dbus-role-uids.json`;
//!   the link rewrites SASL `AUTH EXTERNAL` to it. The daemon knows the
//!   uids by name (`pv-dbus-<role>`) from a passwd of its own.
//! - Policy: deny by default (no name owned, no method call sent but to
//!   the bus driver and as replies); the owner role may own its name and
//!   call it, each `allow` role may call it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::path::Path;

use crate::graph::{Export, RevisionGraph, HOSTED_BUS};

/// The first uid of the role pool.
pub const ROLE_UID_BASE: u32 = 90000;
/// The pool's file in the storage's config directory.
pub const ROLE_UID_FILE: &str = "dbus-role-uids.json";
/// A role's user name in the daemon's passwd.
pub const USER_PREFIX: &str = "pv-dbus-";

/// A name owned on the hosted bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedName {
    pub provider: String,
    pub name: String,
    /// The owner's role (the name itself when the export names none).
    pub role: String,
    pub allow: Vec<String>,
}

/// Whether an export declares a name on the hosted bus: a D-Bus export
/// with `owns`, on `bus: "system-bus"` or with neither bus nor socket.
fn on_hosted(e: &Export) -> bool {
    e.kind == "dbus"
        && e.owns.is_some()
        && match &e.bus {
            Some(b) => b == HOSTED_BUS,
            None => e.socket.is_none(),
        }
}

/// Roles and names go into XML attributes and passwd lines: letters,
/// digits, `.`, `_` and `-` only.
fn plain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl RevisionGraph {
    /// The names owned on the hosted bus, by provider.
    pub fn owned_names(&self) -> Vec<OwnedName> {
        let mut out = vec![];
        for (p, es) in &self.exports {
            for e in es.iter().filter(|e| on_hosted(e)) {
                let name = e.owns.clone().unwrap_or_default();
                out.push(OwnedName {
                    provider: p.clone(),
                    role: e.role.clone().unwrap_or_else(|| name.clone()),
                    allow: e.allow.clone().unwrap_or_default(),
                    name,
                });
            }
        }
        out
    }

    /// The roles the hosted bus must know: owners, allowed callers and the
    /// roles of every requirement it serves.
    pub fn hosted_roles(&self) -> BTreeSet<String> {
        let mut roles = BTreeSet::new();
        for o in self.owned_names() {
            roles.insert(o.role);
            roles.extend(o.allow);
        }
        for r in self.requirements.values().flatten() {
            if crate::graph::on_hosted_bus(r) {
                roles.insert(
                    r.role
                        .clone()
                        .unwrap_or_else(|| crate::graph::DEFAULT_ROLE.into()),
                );
            }
        }
        roles
    }

    /// Whether any container needs or offers something on the hosted bus.
    pub fn uses_hosted_bus(&self) -> bool {
        !self.owned_names().is_empty()
            || self
                .requirements
                .values()
                .flatten()
                .any(crate::graph::on_hosted_bus)
    }

    /// Why the revision cannot run with the hosted bus on: a container
    /// exporting the reserved `system-bus`, a name owned twice, a role or
    /// name with characters the bus's files cannot carry.
    pub fn hosted_conflicts(&self) -> Vec<String> {
        let mut out = vec![];
        for (p, es) in &self.exports {
            if es.iter().any(|e| e.name.as_deref() == Some(HOSTED_BUS)) {
                out.push(format!(
                    "{p} exports the reserved service name {HOSTED_BUS} while the hosted system bus is enabled"
                ));
            }
        }
        let mut owners: BTreeMap<String, &str> = BTreeMap::new();
        let owned = self.owned_names();
        for o in &owned {
            if let Some(first) = owners.insert(o.name.clone(), &o.provider) {
                out.push(format!(
                    "{} is owned by both {first} and {} on {HOSTED_BUS}",
                    o.name, o.provider
                ));
            }
            if !plain(&o.name) {
                out.push(format!("{}: bad D-Bus name {:?}", o.provider, o.name));
            }
        }
        for r in self.hosted_roles() {
            if !plain(&r) {
                out.push(format!("bad role {r:?} on {HOSTED_BUS}"));
            }
        }
        out
    }
}

/// The role → uid pool, kept across boots and revisions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleUids {
    pub uids: BTreeMap<String, u32>,
}

impl RoleUids {
    /// The pool in `file` (none yet or unreadable: empty, with a warning
    /// for the latter).
    pub fn load(file: &Path) -> RoleUids {
        let uids = match std::fs::read(file) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
                tracing::warn!("{}: {e}; starting a new role uid pool", file.display());
                BTreeMap::new()
            }),
            Err(_) => BTreeMap::new(),
        };
        RoleUids { uids }
    }

    /// Give every role in `roles` a uid (new ones after the highest so
    /// far); true when the pool grew.
    pub fn assign<'a>(&mut self, roles: impl IntoIterator<Item = &'a String>) -> bool {
        let mut grew = false;
        for r in roles {
            if !self.uids.contains_key(r) {
                let next = self
                    .uids
                    .values()
                    .map(|u| u + 1)
                    .max()
                    .unwrap_or(ROLE_UID_BASE)
                    .max(ROLE_UID_BASE);
                self.uids.insert(r.clone(), next);
                grew = true;
            }
        }
        grew
    }

    /// Write the pool durably to `file`.
    pub fn save(&self, file: &Path) -> Result<(), pv_fs::FsError> {
        let text = serde_json::to_string(&self.uids).unwrap_or_else(|_| "{}".into());
        pv_fs::write_atomic(file, text.as_bytes())
    }
}

/// The daemon's configuration: a system bus listening at `socket`,
/// EXTERNAL only, deny by default, the generated rules from `policy_dir`.
pub fn base_config(socket: &Path, policy_dir: &Path) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <!-- the last rule that matches decides -->
    <allow user="*"/>
    <!-- owning a name and calling a method are granted per role below -->
    <deny own="*"/>
    <deny send_type="method_call"/>
    <!-- but anyone may talk to the bus driver -->
    <allow send_destination="org.freedesktop.DBus"/>
    <allow receive_sender="org.freedesktop.DBus"/>
    <allow receive_type="method_call"/>
    <!-- answers to calls made, and signals, flow freely -->
    <allow send_type="method_return" send_requested_reply="true"/>
    <allow send_type="error" send_requested_reply="true"/>
    <allow receive_type="method_return" receive_requested_reply="true"/>
    <allow receive_type="error" receive_requested_reply="true"/>
    <allow send_type="signal"/>
    <allow receive_type="signal"/>
  </policy>
  <includedir>{}</includedir>
</busconfig>
"#,
        socket.display(),
        policy_dir.display()
    )
}

/// The per-role rules of a revision's owned names (roles without a uid in
/// `uids` are left out).
pub fn policy(owned: &[OwnedName], uids: &RoleUids) -> String {
    let mut x = String::from(
        "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n<busconfig>\n",
    );
    for o in owned {
        if let Some(uid) = uids.uids.get(&o.role) {
            let _ = write!(
                x,
                "  <!-- {p}: role {r} (uid {uid}) owns {n} -->\n  <policy user=\"{USER_PREFIX}{r}\">\n    <allow own=\"{n}\"/>\n    <allow send_destination=\"{n}\"/>\n    <allow receive_sender=\"{n}\"/>\n  </policy>\n",
                p = o.provider,
                r = o.role,
                n = o.name
            );
        }
        for a in &o.allow {
            if let Some(uid) = uids.uids.get(a) {
                let _ = write!(
                    x,
                    "  <!-- role {a} (uid {uid}) may call {n} -->\n  <policy user=\"{USER_PREFIX}{a}\">\n    <allow send_destination=\"{n}\"/>\n    <allow receive_sender=\"{n}\"/>\n  </policy>\n",
                    n = o.name
                );
            }
        }
    }
    x.push_str("</busconfig>\n");
    x
}

/// The daemon's passwd: the host's, then one user per role of `roles`
/// (so that the bus resolves the uids its policy names).
pub fn passwd(host: &str, roles: &BTreeSet<String>, uids: &RoleUids) -> String {
    let mut out = host.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    for r in roles {
        if let Some(uid) = uids.uids.get(r) {
            let _ = writeln!(
                out,
                "{USER_PREFIX}{r}:x:{uid}:{uid}::/nonexistent:/usr/sbin/nologin"
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn graph(v: Value) -> RevisionGraph {
        RevisionGraph::from_state(v.as_object().unwrap().iter()).unwrap()
    }

    fn sample() -> Value {
        json!({
            "srv/services.json": {"#spec": crate::graph::SPEC, "services": [
                {"type": "dbus", "bus": "system-bus", "owns": "org.pv.Foo", "role": "foo", "allow": ["operator"]}
            ]},
            "srv/run.json": {"services": {"required": [{"name": "system-bus", "type": "dbus", "role": "foo"}]}},
            "app/run.json": {"services": {"required": [{"name": "system-bus", "role": "operator",
                "target": "/run/dbus/system_bus_socket"}]}},
            "guest/run.json": {"services": {"optional": [{"name": "system-bus"}]}}
        })
    }

    #[test]
    fn hosted_links_roles_and_uids() {
        let g = graph(sample());
        assert!(g.uses_hosted_bus());
        assert!(g.hosted_conflicts().is_empty());
        let roles = g.hosted_roles();
        assert_eq!(
            roles.iter().map(String::as_str).collect::<Vec<_>>(),
            ["any", "foo", "operator"]
        );
        // served by the hosted bus only when it is on
        assert!(g.missing(true).is_empty());
        assert_eq!(g.missing(false).len(), 3);
        let mut pool = RoleUids::default();
        assert!(pool.assign(&roles));
        assert!(!pool.assign(&roles), "stable");
        assert_eq!(pool.uids["any"], ROLE_UID_BASE);
        assert_eq!(pool.uids["operator"], ROLE_UID_BASE + 2);
        let bus = crate::graph::HostedBus {
            socket: "/host/bus.sock".into(),
            uids: pool.uids.clone(),
        };
        let links = g.links(|c| if c == "app" { 7 } else { 8 }, Some(&bus));
        assert_eq!(links.len(), 3);
        let app = links.iter().find(|l| l.consumer == "app").unwrap();
        assert_eq!(
            serde_json::to_string(app).unwrap(),
            r#"{"consumer":"app","consumer_pid":7,"provider":"_pv_","provider_pid":0,"name":"system-bus","type":"dbus","role":"operator","interface":"dbus","target":"/run/dbus/system_bus_socket","socket":"/host/bus.sock","uid":90002}"#
        );
        let guest = links.iter().find(|l| l.consumer == "guest").unwrap();
        assert_eq!(guest.target, "/run/dbus/system_bus_socket");
        assert!(guest.is_hosted());
        assert!(g.links(|_| 1, None).is_empty(), "off: no hosted links");
    }

    #[test]
    fn a_new_role_gets_the_next_uid_and_the_pool_persists() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join(ROLE_UID_FILE);
        let mut pool = RoleUids::load(&f);
        pool.assign(&["b".to_string(), "a".to_string()]);
        pool.save(&f).unwrap();
        let mut again = RoleUids::load(&f);
        assert_eq!(again, pool);
        again.assign(&["c".to_string()]);
        assert_eq!(again.uids["c"], ROLE_UID_BASE + 2);
        assert_eq!(again.uids["b"], ROLE_UID_BASE);
    }

    #[test]
    fn conflicts_refuse_the_revision() {
        let mut v = sample();
        v["other/services.json"] = json!({"services": [
            {"type": "dbus", "owns": "org.pv.Foo", "role": "x"},
            {"name": "system-bus", "type": "dbus", "socket": "/run/dbus/system_bus_socket"}
        ]});
        let c = graph(v).hosted_conflicts();
        assert_eq!(c.len(), 2, "{c:?}");
        assert!(c[0].contains("reserved service name"), "{c:?}");
        assert!(c[1].contains("owned by both"), "{c:?}");
        let bad = graph(json!({"a/services.json": {"services": [
            {"type": "dbus", "bus": "system-bus", "owns": "org.pv.A", "role": "x\"/><allow own=\"*"}
        ]}}));
        assert_eq!(bad.hosted_conflicts().len(), 1);
    }

    #[test]
    fn policy_and_passwd_name_each_role() {
        let g = graph(sample());
        let mut pool = RoleUids::default();
        pool.assign(&g.hosted_roles());
        let p = policy(&g.owned_names(), &pool);
        assert!(p.contains("<policy user=\"pv-dbus-foo\">\n    <allow own=\"org.pv.Foo\"/>"));
        assert!(p.contains(
            "<policy user=\"pv-dbus-operator\">\n    <allow send_destination=\"org.pv.Foo\"/>"
        ));
        assert!(
            !p.contains("pv-dbus-any"),
            "a role allowed nothing gets no rule"
        );
        let pw = passwd("root:x:0:0::/root:/bin/sh", &g.hosted_roles(), &pool);
        assert_eq!(
            pw.lines().collect::<Vec<_>>(),
            [
                "root:x:0:0::/root:/bin/sh",
                "pv-dbus-any:x:90000:90000::/nonexistent:/usr/sbin/nologin",
                "pv-dbus-foo:x:90001:90001::/nonexistent:/usr/sbin/nologin",
                "pv-dbus-operator:x:90002:90002::/nonexistent:/usr/sbin/nologin"
            ]
        );
        let conf = base_config(Path::new("/r/bus.sock"), Path::new("/r/policy.d"));
        assert!(conf.contains("<listen>unix:path=/r/bus.sock</listen>"));
        assert!(conf.contains("<includedir>/r/policy.d</includedir>"));
    }
}
