//! The hosted D-Bus system bus on the runtime's side
//! (`PV_XCONNECT_DBUS_SYSTEMBUS_ENABLED`, default on; see
//! [`pv_xconnect::hosted`]): its files in `<run dir>.internal/pv-dbus/`
//! (never visible inside a container: they reach the bus only through
//! their links), the role uid pool in `<storage>/config/`, and the
//! `pv-dbus` daemon, started once a revision needs or offers something on
//! the bus and reloaded (SIGHUP) when its policy changes.
//!
//! Files: `system.conf` (the daemon's configuration), `policy.d/
//! pv-generated.conf` (the revision's rules), `passwd` (bind-mounted over
//! the daemon's `/etc/passwd`), `system_bus_socket`.

use std::path::{Path, PathBuf};

use pv_config::Key;
use pv_xconnect::hosted::{self, RoleUids};
use pv_xconnect::{HostedBus, RevisionGraph};
use tracing::{info, warn};

use crate::daemons::{DbusCommand, DBUS};
use crate::device::Device;
use crate::layout::Layout;

/// The hosted bus's files and what was last made of them.
#[derive(Debug)]
pub(crate) struct HostedBusState {
    dir: PathBuf,
    pool_file: PathBuf,
    pool: Option<RoleUids>,
    /// The graph the files were last made for.
    synced: Option<RevisionGraph>,
    /// What the links need (`None`: off, or not made yet).
    pub(crate) bus: Option<HostedBus>,
}

impl HostedBusState {
    pub(crate) fn new(layout: &Layout) -> HostedBusState {
        HostedBusState {
            dir: layout.internal.join("pv-dbus"),
            pool_file: layout.config_dir().join(hosted::ROLE_UID_FILE),
            pool: None,
            synced: None,
            bus: None,
        }
    }

    pub(crate) fn socket(&self) -> PathBuf {
        self.dir.join("system_bus_socket")
    }

    fn policy_dir(&self) -> PathBuf {
        self.dir.join("policy.d")
    }

    /// How `pv-dbus` runs (Debian's `dbus-daemon`, found in `PATH`).
    pub(crate) fn command(&self) -> DbusCommand {
        DbusCommand {
            program: "dbus-daemon".into(),
            conf: self.dir.join("system.conf"),
            passwd: self.dir.join("passwd"),
        }
    }

    /// Make the files match graph `g`; true when the policy or the users
    /// changed (a running daemon must reload).
    fn sync(&mut self, g: &RevisionGraph) -> Result<bool, pv_fs::FsError> {
        let policy_dir = self.policy_dir();
        std::fs::create_dir_all(&policy_dir)
            .map_err(|e| pv_fs::FsError::new("create directory", &policy_dir, e))?;
        let pool = self
            .pool
            .get_or_insert_with(|| RoleUids::load(&self.pool_file));
        let roles = g.hosted_roles();
        if pool.assign(&roles) {
            pool.save(&self.pool_file)?;
        }
        let conf = hosted::base_config(&self.dir.join("system_bus_socket"), &policy_dir);
        write_if_changed(&self.dir.join("system.conf"), &conf, false)?;
        let rules = hosted::policy(&g.owned_names(), pool);
        let mut changed = write_if_changed(&policy_dir.join("pv-generated.conf"), &rules, false)?;
        let host = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let users = hosted::passwd(&host, &roles, pool);
        changed |= write_if_changed(&self.dir.join("passwd"), &users, true)?;
        let uids = pool.uids.clone();
        self.bus = Some(HostedBus {
            socket: self.socket().to_string_lossy().into_owned(),
            uids,
        });
        self.synced = Some(g.clone());
        Ok(changed)
    }
}

/// Write `text` to `path` unless it is there already; true when written.
/// `in_place` keeps the file's inode (a bind mount of it shows the new
/// text), the others are replaced atomically. All are volatile.
fn write_if_changed(path: &Path, text: &str, in_place: bool) -> Result<bool, pv_fs::FsError> {
    if std::fs::read(path).is_ok_and(|old| old == text.as_bytes()) {
        return Ok(false);
    }
    if in_place {
        std::fs::write(path, text).map_err(|e| pv_fs::FsError::new("write", path, e))?;
    } else {
        pv_fs::write_replace(path, text.as_bytes())?;
    }
    Ok(true)
}

impl Device {
    /// The hosted bus's turn of a tick: when the running revision's graph
    /// changed, make its files again (reloading a running daemon), and
    /// start `pv-dbus` when the revision uses the bus.
    pub(crate) fn hosted_bus_tick(&mut self) {
        if !self.cfg.get_bool(Key::PvXconnectDbusSystembusEnabled) {
            self.hosted.bus = None;
            return;
        }
        let Some(e) = &self.engine else { return };
        let g = &e.model.xconnect;
        if self.hosted.synced.as_ref() == Some(g) {
            return;
        }
        let uses = g.uses_hosted_bus();
        let g = g.clone();
        let running = self.daemons.as_ref().is_some_and(|d| d.running(DBUS));
        if !uses && !running {
            // nothing to host (yet): no files, no daemon
            self.hosted.synced = Some(g);
            return;
        }
        match self.hosted.sync(&g) {
            Ok(changed) => {
                let Some(d) = &mut self.daemons else { return };
                if changed && d.running(DBUS) {
                    info!("hosted system bus: policy changed, reloading");
                    d.signal(DBUS, nix::sys::signal::Signal::SIGHUP);
                }
                if uses {
                    d.start_on_demand(DBUS);
                }
            }
            Err(e) => {
                warn!("hosted system bus: {}", crate::chain(&e));
                // tried again at the next change of the graph
                self.hosted.synced = Some(g);
            }
        }
    }
}
