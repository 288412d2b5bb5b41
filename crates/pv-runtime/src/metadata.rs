//! Device and user metadata of the running device, and the configuration
//! levels that come with a revision.

use pv_config::Config;
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

    /// The keys the runtime publishes at boot.
    pub fn boot(&mut self, layout: &Layout, rev: &str) {
        let host = pv_metadata::HostMeta {
            version: env!("CARGO_PKG_VERSION"),
            storage_path: &layout.storage,
            gc_reserved_percent: 5,
        };
        for (k, v) in pv_metadata::host_device_meta(&host) {
            self.set_device(k, &v);
        }
        self.set_device(pv_metadata::keys::REVISION, rev);
        self.set_device(pv_metadata::keys::MODE, "local");
        // the previous run's status is not this run's: the first tick sets it
        if let Some(d) = &mut self.device {
            if let Err(e) = d.remove(pv_metadata::keys::STATUS) {
                warn!("device metadata {}: {e}", pv_metadata::keys::STATUS);
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

    /// The per-container views non-mgmt containers see.
    pub fn container_views(&self, name: &str) {
        for s in [&self.device, &self.user].into_iter().flatten() {
            if let Err(e) = s.ensure_container_view(name) {
                warn!("metadata view of {name}: {e}");
            }
        }
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
            if pv_config::Key::from_name(k).is_some() && cfg.set_metadata(k, v) {
                info!("configuration {k} set from user metadata");
            }
        }
    }
    for w in cfg.take_warnings() {
        warn!("config: {w}");
    }
}
