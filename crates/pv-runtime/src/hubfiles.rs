//! What the original's Hub side leaves on a device even when no Hub is
//! reachable: the `ph conf file` and `ph cmdline` configuration levels
//! (`<storage>/config/pantahub.config`, created with the defaults when
//! missing) and the hint files at the top of the run dir that mgmt
//! containers read at `/pantavisor/` (`challenge`, `device-id`,
//! `pantahub-host`, `phconfig`).

use std::path::Path;

use pv_config::{Config, Key};
use tracing::{info, warn};

use crate::layout::Layout;

/// `pantahub.config` under the storage's `config/` directory.
pub fn ph_config_path(layout: &Layout) -> std::path::PathBuf {
    layout.config_dir().join("pantahub.config")
}

/// Load the `ph conf file` level, then the `ph_<key>=` words of the
/// kernel command line (`ph cmdline` level). A missing pantahub.config is
/// first written with the current values, as the original does.
pub fn load_ph_config(cfg: &mut Config, layout: &Layout, cmdline: &str) {
    let path = ph_config_path(layout);
    if !path.exists() {
        info!(
            "{} not found: saving one with the default values",
            path.display()
        );
        if let Err(e) = cfg.save_ph_config(&path) {
            warn!("pantahub.config not saved: {e}");
        }
    }
    if let Err(e) = cfg.load_ph_config(&path, cmdline) {
        warn!("pantahub.config not loaded: {e}");
    }
    for w in cfg.take_warnings() {
        warn!("config: {w}");
    }
}

/// A device is claimed once pantahub.config holds its PRN.
pub fn is_claimed(cfg: &Config) -> bool {
    cfg.get_opt_str(Key::PhCredsPrn).is_some()
}

fn write_hint(dir: &Path, name: &str, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    let r = pv_fs::write_replace(&path, text.as_bytes()).and_then(|()| {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444))
            .map_err(|e| pv_fs::FsError::new("chmod", &path, e))
    });
    if let Err(e) = r {
        warn!("run dir hint {name}: {e}");
    }
}

/// The run dir's Hub hints: an empty `challenge` (no claim pending),
/// `device-id` (the id once claimed, else empty), `pantahub-host`
/// (`https://<host>:<port>`) and `phconfig`, which shows the storage's
/// `config/` directory on the host (a symlink; the original bind-mounts
/// it, so a mgmt container sees it empty in both).
pub fn write_run_dir_hints(cfg: &Config, layout: &Layout) {
    let run = &layout.rundir;
    write_hint(run, "challenge", "");
    let id = if is_claimed(cfg) {
        format!("{}\n", cfg.get_str(Key::PhCredsId))
    } else {
        String::new()
    };
    write_hint(run, "device-id", &id);
    let host = format!(
        "https://{}:{}\n",
        cfg.get_str(Key::PhCredsHost),
        cfg.get_int(Key::PhCredsPort)
    );
    write_hint(run, "pantahub-host", &host);
    let link = run.join("phconfig");
    match std::fs::symlink_metadata(&link) {
        Ok(m) if m.file_type().is_symlink() => {
            let _ = std::fs::remove_file(&link);
        }
        Ok(_) => {
            warn!("{} is not ours to replace", link.display());
            return;
        }
        Err(_) => {}
    }
    if let Err(e) = std::os::unix::fs::symlink(layout.config_dir(), &link) {
        warn!("{}: {e}", link.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_and_a_created_pantahub_config() {
        let d = tempfile::tempdir().unwrap();
        let layout = Layout::new(&d.path().join("storage"), &d.path().join("run"));
        layout.create().unwrap();
        let mut cfg = Config::new();
        load_ph_config(&mut cfg, &layout, "ph_creds.port=8443 ph_creds.prn=prn:x");
        let text = std::fs::read_to_string(ph_config_path(&layout)).unwrap();
        assert!(text.contains("PH_CREDS_HOST=api.pantahub.com\n"), "{text}");
        assert!(text.contains("PH_UPDATER_INTERVAL=60\n"), "{text}");
        assert_eq!(cfg.modified(Key::PhCredsHost), pv_config::Level::PhConf);
        assert_eq!(cfg.get_int(Key::PhCredsPort), 8443);
        assert!(is_claimed(&cfg));

        cfg.set("PH_CREDS_ID", "dev-1", pv_config::Level::PhConf);
        write_run_dir_hints(&cfg, &layout);
        write_run_dir_hints(&cfg, &layout);
        let read = |n: &str| std::fs::read_to_string(layout.rundir.join(n)).unwrap();
        assert_eq!(read("challenge"), "");
        assert_eq!(read("device-id"), "dev-1\n");
        assert_eq!(read("pantahub-host"), "https://api.pantahub.com:8443\n");
        assert!(layout.rundir.join("phconfig/pantahub.config").is_file());

        let unclaimed = Config::new();
        write_run_dir_hints(&unclaimed, &layout);
        assert_eq!(read("device-id"), "");
    }
}
