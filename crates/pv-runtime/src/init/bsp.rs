//! The booted revision's BSP in embedded mode: `bsp/run.json`'s `modules`
//! squashfs mounted read-only at `/lib/modules/<uname -r>` (where the
//! managed drivers and the kernel's module requests look), `firmware` at
//! `/lib/firmware`, then the devices coldplugged from it and, with
//! `PV_SYSTEM_DRIVERS_LOAD_EARLY_AUTO`, every driver of `bsp/drivers.json`
//! loaded.

use std::path::{Path, PathBuf};

use pv_config::{Config, Key};
use pv_container::volumes::VolumeSource;
use pv_types::manifest::{BspRunJson, VolumeRef};
use tracing::{info, warn};

use crate::layout::Layout;
use crate::system::System;

/// Where the revision's firmware is mounted.
pub const FIRMWARE_DIR: &str = "/lib/firmware";

/// `bsp/<file>` of `rev` for a `bsp/run.json` value (handler prefix dropped).
fn bsp_file(layout: &Layout, rev: &str, value: &str) -> Option<PathBuf> {
    let rel = VolumeRef::parse(value).path;
    pv_fs::validate_rel_path(&rel).ok()?;
    Some(layout.trail(rev).join("bsp").join(rel))
}

/// The modules and firmware images of `rev` (`None` where run.json names none).
pub fn images(layout: &Layout, rev: &str) -> (Option<PathBuf>, Option<PathBuf>) {
    let path = layout.trail(rev).join("bsp").join("run.json");
    let Ok(bytes) = std::fs::read(&path) else {
        return (None, None);
    };
    let run: BspRunJson = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => {
            warn!("{}: {e}", path.display());
            return (None, None);
        }
    };
    (
        run.modules
            .as_deref()
            .and_then(|m| bsp_file(layout, rev, m)),
        run.firmware
            .as_deref()
            .and_then(|f| bsp_file(layout, rev, f)),
    )
}

/// Mount `image` (squashfs) on `target` unless something is mounted there.
fn mount_image(sys: &dyn System, image: &Path, target: &Path) {
    if sys.mounts_under(target).iter().any(|m| m == target) {
        return;
    }
    if !image.exists() {
        warn!("BSP image {} missing", image.display());
        return;
    }
    let src = VolumeSource::Image {
        path: image.to_path_buf(),
        fstype: "squashfs".into(),
    };
    match sys.mount_volume(&src, target) {
        Ok(()) => info!("{} mounted on {}", image.display(), target.display()),
        Err(e) => warn!("BSP image {}: {e}", image.display()),
    }
}

/// Mount the BSP of `rev` and load what it is asked to.
pub fn mount(
    sys: &dyn System,
    layout: &Layout,
    rev: &str,
    cfg: &Config,
    drivers_json: Option<&serde_json::Value>,
) {
    let (modules, firmware) = images(layout, rev);
    let modules_dir = pv_kmod::host_modules_dir();
    if let Some(m) = modules {
        mount_image(sys, &m, &modules_dir);
    }
    if let Some(f) = firmware {
        mount_image(sys, &f, Path::new(FIRMWARE_DIR));
    }
    super::modules::coldplug(&modules_dir);
    super::modules::load_runtime_modules(&modules_dir);
    if cfg.get_bool(Key::PvSystemDriversLoadEarlyAuto) {
        // loaded for the life of the boot: this handle is dropped, not unloaded
        let mut d =
            pv_kmod::managed::Drivers::new(drivers_json, modules_dir, layout.rundir.clone());
        let names: Vec<String> = d.aliases.keys().cloned().collect();
        for n in names {
            if let Err(e) = d.load(&n) {
                warn!("early driver {n}: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_named_by_run_json() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new(&d.path().join("s"), &d.path().join("run"));
        let bsp = l.trail("0").join("bsp");
        std::fs::create_dir_all(&bsp).unwrap();
        assert_eq!(images(&l, "0"), (None, None));
        std::fs::write(
            bsp.join("run.json"),
            r#"{"linux":"kernel.img","modules":"dm:modules.squashfs","firmware":"../../etc"}"#,
        )
        .unwrap();
        let (m, f) = images(&l, "0");
        assert_eq!(m, Some(bsp.join("modules.squashfs")));
        assert_eq!(f, None, "a path out of bsp/ is refused");
    }
}
