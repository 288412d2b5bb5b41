//! The LAN endpoint for `pvr clone/get/post` (crate `pv-lan`): off unless
//! `PV_LAN_PVR_LISTEN` is set, and then only with a `PV_LAN_PVR_TOKEN` of
//! at least 16 characters. It forwards every change to the control socket,
//! so it needs the control server running.

use pv_config::{Config, Key};
use tracing::{error, info};

use crate::layout::Layout;

/// Start the endpoint if the configuration asks for it.
pub fn start(cfg: &Config, layout: &Layout) -> Option<pv_lan::LanServer> {
    let listen = cfg.get_opt_str(Key::PvLanPvrListen)?.trim().to_string();
    if listen.is_empty() {
        return None;
    }
    let setup = || -> Result<pv_lan::LanServer, String> {
        let addr = pv_lan::parse_listen(&listen).map_err(|e| e.to_string())?;
        let token = pv_lan::Token::new(cfg.get_opt_str(Key::PvLanPvrToken).unwrap_or(""))
            .map_err(|e| format!("PV_LAN_PVR_TOKEN: {e}"))?;
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
        })
        .map_err(|e| e.to_string())
    };
    match setup() {
        Ok(s) => {
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
