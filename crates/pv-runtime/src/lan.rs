//! The LAN endpoint for `pvr clone/get/post` and the pvtx API (crate
//! `pv-lan`): off unless `PV_LAN_PVR_LISTEN` is set. With a
//! `PV_LAN_PVR_TOKEN` (at least 16 characters) every call needs it;
//! without one the endpoint is open, as the original's (a warning says
//! so). It forwards every change to the control socket, so it needs the
//! control server running. The pvtx API keeps its transaction in
//! `<storage>/cache/pvtx`.

use pv_config::{Config, Key};
use tracing::{error, info, warn};

use crate::layout::Layout;

/// Start the endpoint if the configuration asks for it.
pub fn start(cfg: &Config, layout: &Layout) -> Option<pv_lan::LanServer> {
    let listen = cfg.get_opt_str(Key::PvLanPvrListen)?.trim().to_string();
    if listen.is_empty() {
        return None;
    }
    let setup = || -> Result<pv_lan::LanServer, String> {
        let addr = pv_lan::parse_listen(&listen).map_err(|e| e.to_string())?;
        let token = match cfg.get_opt_str(Key::PvLanPvrToken).map(str::trim) {
            None | Some("") => None,
            Some(t) => Some(pv_lan::Token::new(t).map_err(|e| format!("PV_LAN_PVR_TOKEN: {e}"))?),
        };
        let trail_id = cfg
            .get_opt_str(Key::PhCredsId)
            .filter(|s| !s.is_empty())
            .unwrap_or("local")
            .to_string();
        pv_lan::LanServer::start(pv_lan::LanConfig {
            listen: addr,
            token,
            ctrl_socket: layout.rundir.join("pv-ctrl"),
            objects: layout.objects(),
            trail_id,
            limits: pv_lan::Limits::default(),
            pvtx_dir: layout.cache().join("pvtx"),
            logs: Some(layout.logs()),
        })
        .map_err(|e| e.to_string())
    };
    let open = cfg
        .get_opt_str(Key::PvLanPvrToken)
        .is_none_or(|t| t.trim().is_empty());
    match setup() {
        Ok(s) => {
            if open {
                warn!(
                    "LAN endpoint without PV_LAN_PVR_TOKEN: anyone on the network can change this device"
                );
            }
            info!(
                "LAN endpoint for pvr listening on http://{}/cgi-bin/pvr",
                s.local_addr()
            );
            Some(s)
        }
        Err(e) => {
            error!("LAN endpoint not started: {e}");
            None
        }
    }
}
