//! Who sent a request, as decided by the runtime from the peer's pid.

/// Name the original gives the host (the root cgroup) as a caller.
pub const HOST_NAME: &str = "_pv_";

/// The sender of a request. The server asks the [`CallerResolver`] for it
/// with the pid the kernel reports for the connection (`SO_PEERCRED`);
/// nothing the client sends is taken into account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A process in the root cgroup: privileged.
    Host,
    /// A process of a container of the running revision; `mgmt` if the
    /// container has the `mgmt` role (then privileged).
    Container {
        /// The container's name.
        name: String,
        /// Whether it has the `mgmt` role.
        mgmt: bool,
    },
    /// The pid could not be read or belongs to no known container: every
    /// routed request gets 500.
    Unknown,
}

impl Caller {
    /// Host and `mgmt` containers get the full API; everyone else only
    /// `POST /signal`.
    pub fn is_privileged(&self) -> bool {
        matches!(self, Caller::Host | Caller::Container { mgmt: true, .. })
    }

    /// The container name, or [`HOST_NAME`] for the host.
    pub fn name(&self) -> Option<&str> {
        match self {
            Caller::Host => Some(HOST_NAME),
            Caller::Container { name, .. } => Some(name),
            Caller::Unknown => None,
        }
    }
}

/// Maps a peer pid to a [`Caller`]. Implemented by the runtime: pid →
/// `/proc/<pid>/cgroup` → container (root cgroup = host, `/lxc/<name>`,
/// appengine `-<digits>` suffix stripped) → roles of that container in the
/// running revision.
///
/// Called on the server thread for every routed request, so it must be
/// quick and must not wait for the runtime's main loop (keep a snapshot of
/// container roles behind a lock the runtime updates on each transition).
pub trait CallerResolver: Send + Sync {
    /// The caller behind `pid`.
    fn resolve(&self, pid: i32) -> Caller;
}

impl<F> CallerResolver for F
where
    F: Fn(i32) -> Caller + Send + Sync,
{
    fn resolve(&self, pid: i32) -> Caller {
        self(pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privilege() {
        assert!(Caller::Host.is_privileged());
        let mgmt = Caller::Container {
            name: "pvr-sdk".into(),
            mgmt: true,
        };
        assert!(mgmt.is_privileged());
        let app = Caller::Container {
            name: "app".into(),
            mgmt: false,
        };
        assert!(!app.is_privileged());
        assert!(!Caller::Unknown.is_privileged());
        assert_eq!(Caller::Host.name(), Some("_pv_"));
        assert_eq!(app.name(), Some("app"));
    }

    #[test]
    fn closures_resolve() {
        let r: &dyn CallerResolver = &|pid: i32| {
            if pid == 1 {
                Caller::Host
            } else {
                Caller::Unknown
            }
        };
        assert_eq!(r.resolve(1), Caller::Host);
        assert_eq!(r.resolve(2), Caller::Unknown);
    }
}
