//! Reboot or not (spec §4.5): what an update changes decides how the
//! device moves to it.
//!
//! A change to anything that belongs to no container (BSP, device.json,
//! root files, `_config/<x>` of no container) or to a container whose
//! restart policy is `system` (in either state) needs a reboot. Otherwise
//! only the changed `container`-policy containers restart; the others keep
//! running, with the same PIDs. Signatures and tooling files (`_sigs/`,
//! `*/src.json`, `*/build.json`) never cause a transition.

use std::collections::BTreeSet;

use pv_types::State;

use crate::model::{RestartPolicy, RevisionModel};

/// How to move from the running revision to a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    Reboot {
        reason: String,
    },
    /// Containers to stop (changed or removed) and to start (changed or added).
    NonReboot {
        restart: BTreeSet<String>,
    },
}

fn ignored(key: &str) -> bool {
    key.starts_with("_sigs/") || key.ends_with("/src.json") || key.ends_with("/build.json")
}

/// The container a key belongs to, if any.
fn owner<'a>(key: &'a str, names: &BTreeSet<&str>) -> Option<&'a str> {
    let mut parts = key.split('/');
    let first = parts.next()?;
    let name = if first == "_config" {
        parts.next()?
    } else {
        first
    };
    if key.contains('/') && names.contains(name) {
        Some(name)
    } else {
        None
    }
}

/// Compare the running and the pending revision.
pub fn decide(
    running: &State,
    running_model: &RevisionModel,
    pending: &State,
    pending_model: &RevisionModel,
) -> Transition {
    let names: BTreeSet<&str> = running_model
        .platforms
        .iter()
        .chain(pending_model.platforms.iter())
        .map(|p| p.name.as_str())
        .collect();
    let system = |name: &str| {
        running_model
            .platforms
            .iter()
            .chain(pending_model.platforms.iter())
            .any(|p| p.name == name && p.restart_policy == RestartPolicy::System)
    };
    let keys: BTreeSet<&String> = running.keys().chain(pending.keys()).collect();
    let mut restart = BTreeSet::new();
    for k in keys {
        if ignored(k) {
            continue;
        }
        let same = match (running.get(k), pending.get(k)) {
            (Some(a), Some(b)) => pv_json::values_equal(a, b),
            _ => false,
        };
        if same {
            continue;
        }
        match owner(k, &names) {
            None => {
                return Transition::Reboot {
                    reason: format!("{k} changed"),
                }
            }
            Some(c) if system(c) => {
                return Transition::Reboot {
                    reason: format!("{k} of system container {c} changed"),
                }
            }
            Some(c) => {
                restart.insert(c.to_string());
            }
        }
    }
    Transition::NonReboot { restart }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn st(s: &str) -> (State, RevisionModel) {
        let s = State::from_slice(s.as_bytes()).unwrap();
        let m = crate::model::parse(&s, Duration::from_secs(30)).unwrap();
        (s, m)
    }

    const A: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222222222222222222222222222";

    fn state(app_img: &str, sys_img: &str, extra: &str) -> String {
        format!(
            r##"{{"#spec":"pantavisor-service-system@1",
            "sys/run.json":{{"group":"platform"}},"sys/root.squashfs":"{sys_img}",
            "app/run.json":{{"group":"app"}},"app/root.squashfs":"{app_img}"{extra}}}"##
        )
    }

    #[test]
    fn container_policy_changes_do_not_reboot() {
        let (r, rm) = st(&state(A, A, ""));
        let (p, pm) = st(&state(
            B,
            A,
            r#","app/src.json":{"x":1},"_sigs/app.json":{"y":2}"#,
        ));
        assert_eq!(
            decide(&r, &rm, &p, &pm),
            Transition::NonReboot {
                restart: ["app".to_string()].into()
            }
        );
        let (p, pm) = st(&state(
            A,
            A,
            r#","_config/app/etc/x.conf":"2222222222222222222222222222222222222222222222222222222222222222""#,
        ));
        assert_eq!(
            decide(&r, &rm, &p, &pm),
            Transition::NonReboot {
                restart: ["app".to_string()].into()
            }
        );
    }

    #[test]
    fn system_bsp_and_device_changes_reboot() {
        let (r, rm) = st(&state(A, A, ""));
        for pending in [
            state(A, B, ""),
            state(A, A, &format!(r#","bsp/kernel.img":"{B}""#)),
            state(A, A, r#","device.json":{}"#),
        ] {
            let (p, pm) = st(&pending);
            assert!(
                matches!(decide(&r, &rm, &p, &pm), Transition::Reboot { .. }),
                "{pending}"
            );
        }
    }

    #[test]
    fn added_and_removed_containers() {
        let (r, rm) = st(&state(A, A, ""));
        let (p, pm) = st(&state(
            A,
            A,
            &format!(r#","new/run.json":{{"group":"app"}},"new/root.squashfs":"{A}""#),
        ));
        assert_eq!(
            decide(&r, &rm, &p, &pm),
            Transition::NonReboot {
                restart: ["new".to_string()].into()
            }
        );
        assert_eq!(
            decide(&p, &pm, &r, &rm),
            Transition::NonReboot {
                restart: ["new".to_string()].into()
            }
        );
    }
}
