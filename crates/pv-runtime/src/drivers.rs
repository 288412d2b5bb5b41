//! Managed drivers in the running device (spec §5.13): the model comes
//! from `pv_kmod::managed`; here the control API's view of them, for the
//! calling container.

use tracing::warn;

pub use pv_kmod::managed::{container_drivers, parse_aliases, substitute, DriverUse, Drivers};

impl crate::device::Device {
    /// `GET /drivers`: the drivers the calling container refers to, with
    /// their state (none for the host).
    pub(crate) fn list_drivers(&self, caller: &pv_ctrl::Caller) -> Vec<pv_ctrl::DriverInfo> {
        let (Some(e), pv_ctrl::Caller::Container { name, .. }) = (&self.engine, caller) else {
            return vec![];
        };
        let Some(p) = e.platforms.iter().find(|p| &p.def.name == name) else {
            return vec![];
        };
        p.def
            .drivers
            .iter()
            .map(|(d, u)| pv_ctrl::DriverInfo {
                name: d.clone(),
                kind: u.as_str().into(),
                status: e.drivers.status(d).into(),
            })
            .collect()
    }

    /// `PUT /drivers[/<name>]/load|unload`: the calling container's
    /// `manual` drivers (all of them, or the one named; a name that is not
    /// one of them does nothing). Unloading always answers 200.
    pub(crate) fn manual_drivers(
        &mut self,
        caller: &pv_ctrl::Caller,
        name: Option<&str>,
        load: bool,
    ) -> pv_ctrl::CtrlReply {
        let pv_ctrl::Caller::Container { name: cname, .. } = caller else {
            return pv_ctrl::CtrlReply::Ok;
        };
        let Some(e) = self.engine.as_mut() else {
            return pv_ctrl::CtrlReply::Ok;
        };
        let manual: Vec<String> = e
            .platforms
            .iter()
            .find(|p| &p.def.name == cname)
            .map(|p| {
                p.def
                    .drivers
                    .iter()
                    .filter(|(d, u)| *u == DriverUse::Manual && name.is_none_or(|n| n == d))
                    .map(|(d, _)| d.clone())
                    .collect()
            })
            .unwrap_or_default();
        for d in manual {
            if !load {
                e.drivers.unload(&d);
            } else if let Err(err) = e.drivers.load(&d) {
                warn!("container {cname}: manual {err}");
                return match name {
                    Some(_) => pv_ctrl::ApiError::driver_not_loaded().into(),
                    None => pv_ctrl::ApiError::drivers_not_loaded().into(),
                };
            }
        }
        pv_ctrl::CtrlReply::Ok
    }
}
