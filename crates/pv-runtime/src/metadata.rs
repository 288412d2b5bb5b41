//! Device and user metadata of the running device, and the configuration
//! levels that come with a revision.

use pv_config::{Config, Key};
use pv_metadata::keys;
use tracing::{info, warn};

use crate::layout::Layout;
use crate::Result;

/// Device and user metadata of the running device.
pub struct Metadata {
    pub device: Option<pv_metadata::MetaStore>,
    pub user: Option<pv_metadata::MetaStore>,
}

impl Metadata {
    pub fn open(layout: &Layout) -> Result<Metadata> {
        let open = |kind: pv_metadata::MetaKind| {
            pv_metadata::MetaStore::open(
                kind,
                kind.default_storage_dir(&layout.storage, true),
                &layout.rundir,
            )
            .map_err(|e| warn!("{kind:?} metadata unavailable: {e}"))
            .ok()
        };
        Ok(Metadata {
            device: open(pv_metadata::MetaKind::Device),
            user: open(pv_metadata::MetaKind::User),
        })
    }

    /// The keys the runtime publishes at boot, in the original's order:
    /// arch, version, dtmodel, cpumodel, revision, mode, `pantahub.online`
    /// (no Hub client: `0`), `pantahub.claimed`, uname, time, sysinfo,
    /// storage, interfaces.
    pub fn boot(&mut self, layout: &Layout, rev: &str, cfg: &Config) {
        let host = pv_metadata::HostMeta {
            version: env!("CARGO_PKG_VERSION"),
            storage_path: &layout.storage,
            gc_reserved_percent: cfg.get_int(Key::PvStorageGcReserved).clamp(0, 100) as u64,
        };
        let claimed = if crate::hubfiles::is_claimed(cfg) {
            "1"
        } else {
            "0"
        };
        for (k, v) in pv_metadata::host_device_meta(&host) {
            self.set_device(k, &v);
            if k == keys::CPUMODEL {
                self.set_device(keys::REVISION, rev);
                self.set_device(keys::MODE, "local");
                self.set_device(keys::PH_ONLINE, "0");
                self.set_device(keys::PH_CLAIMED, claimed);
            }
        }
        // the previous run's status is not this run's: the first tick sets it
        if let Some(d) = &mut self.device {
            if let Err(e) = d.remove(keys::STATUS) {
                warn!("device metadata {}: {e}", keys::STATUS);
            }
        }
    }

    pub fn set_device(&mut self, key: &str, value: &str) {
        if let Some(d) = &mut self.device {
            if let Err(e) = d.set(key, value) {
                warn!("device metadata {key}: {e}");
            }
        }
    }

    /// The per-container views (`user-meta.<name>`, `device-meta.<name>`)
    /// of the non-mgmt containers, which see them at `/pantavisor/`.
    pub fn container_views(&self, platforms: &[crate::platform::Platform]) {
        for p in platforms
            .iter()
            .filter(|p| !p.def.roles.iter().any(|r| r == "mgmt"))
        {
            for s in [&self.device, &self.user].into_iter().flatten() {
                if let Err(e) = s.ensure_container_view(p.name()) {
                    warn!("metadata view of {}: {e}", p.name());
                }
            }
        }
    }
}

fn config_key(name: &str) -> Option<Key> {
    Key::from_name(name).or_else(|| Key::from_alias(name))
}

/// A user-meta key was saved: a configuration key, by its canonical name
/// or a legacy alias (`log.level`, `pantahub.log.push`...), takes the value
/// at the `metadata` level.
pub fn user_meta_saved(cfg: &mut Config, key: &str, value: &str) {
    if cfg.set_metadata(key, value) {
        info!("configuration {key} set from user metadata");
    }
    for w in cfg.take_warnings() {
        warn!("config: {w}");
    }
}

/// A user-meta key was removed: its configuration key falls back to the
/// level below, unless another spelling of it is still in user meta.
pub fn user_meta_removed(cfg: &mut Config, user: Option<&pv_metadata::MetaStore>, key: &str) {
    let Some(k) = config_key(key) else { return };
    cfg.remove_metadata(key);
    for (other, v) in user.into_iter().flat_map(|u| u.iter()) {
        if config_key(other) == Some(k) {
            cfg.set_metadata(other, v);
        }
    }
    for w in cfg.take_warnings() {
        warn!("config: {w}");
    }
}

/// The configuration levels that come with a running revision: the OEM
/// config it ships (`PV_OEM_NAME`) and `PV_*` keys in user metadata.
pub fn apply_revision_config(cfg: &mut Config, layout: &Layout, rev: &str, meta: &Metadata) {
    if let Some(p) = cfg.oem_config_path(&layout.storage, rev) {
        if p.exists() {
            match cfg.load_oem(&p) {
                Ok(()) => info!("OEM configuration {} loaded", p.display()),
                Err(e) => warn!("OEM configuration {}: {e}", p.display()),
            }
        }
    }
    if let Some(user) = &meta.user {
        for (k, v) in user.iter() {
            if cfg.set_metadata(k, v) {
                info!("configuration {k} set from user metadata");
            }
        }
    }
    for w in cfg.take_warnings() {
        warn!("config: {w}");
    }
}
