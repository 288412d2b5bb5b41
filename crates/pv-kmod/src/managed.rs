//! Managed drivers (Pantavisor's `bsp/drivers.json`, seed "Load Managed
//! Drivers"): abstract driver names mapped to module lines with options
//! (`${user-meta:KEY}` / `${device-meta:KEY}` filled in), the uses a
//! container declares (`required`, `optional`, `manual`), and what is
//! loaded, over [`Modprobe`](crate::Modprobe).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tracing::{error, info, warn};

/// How a container refers to a driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverUse {
    Required,
    Optional,
    Manual,
}

impl DriverUse {
    pub fn as_str(self) -> &'static str {
        match self {
            DriverUse::Required => "REQUIRED",
            DriverUse::Optional => "OPTIONAL",
            DriverUse::Manual => "MANUAL",
        }
    }
}

/// A container's `drivers` object, in declaration order.
pub fn container_drivers(v: Option<&Value>) -> Vec<(String, DriverUse)> {
    let mut out = vec![];
    let Some(Value::Object(m)) = v else {
        return out;
    };
    for (k, u) in [
        ("required", DriverUse::Required),
        ("optional", DriverUse::Optional),
        ("manual", DriverUse::Manual),
    ] {
        if let Some(Value::Array(a)) = m.get(k) {
            out.extend(
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|s| (s.to_string(), u)),
            );
        }
    }
    out
}

/// `bsp/drivers.json` (`driver-aliases@1`) for this boot: the `all`
/// section, overridden per driver by the `dtb:<x>` and `ovl:<y>` sections
/// that match the boot's `pv_bootloader.dtb=` / `pv_bootloader.ovl=`.
pub fn parse_aliases(
    v: &Value,
    dtb: Option<&str>,
    ovl: Option<&str>,
) -> Result<BTreeMap<String, Vec<String>>, String> {
    let Value::Object(m) = v else {
        return Err("bsp/drivers.json is not an object".into());
    };
    let mut out = BTreeMap::new();
    let mut section = |name: &str| -> Result<(), String> {
        let Some(s) = m.get(name) else { return Ok(()) };
        let Value::Object(drivers) = s else {
            return Err(format!("bsp/drivers.json: {name} is not an object"));
        };
        for (alias, mods) in drivers {
            let Value::Array(a) = mods else {
                return Err(format!("bsp/drivers.json: {name}.{alias} is not a list"));
            };
            let lines: Option<Vec<String>> =
                a.iter().map(|x| x.as_str().map(String::from)).collect();
            let lines = lines
                .ok_or_else(|| format!("bsp/drivers.json: {name}.{alias} has a non-string"))?;
            out.insert(alias.clone(), lines);
        }
        Ok(())
    };
    section("all")?;
    if let Some(d) = dtb {
        section(&format!("dtb:{d}"))?;
    }
    if let Some(o) = ovl {
        section(&format!("ovl:{o}"))?;
    }
    Ok(out)
}

/// Replace `${user-meta:KEY}` and `${device-meta:KEY}` with the values
/// `meta(kind, key)` gives (nothing when unset).
pub fn substitute(line: &str, meta: &dyn Fn(&str, &str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(j) = after.find('}') else {
            out.push_str(&rest[i..]);
            return out;
        };
        let var = &after[..j];
        if let Some((kind, key)) = var.split_once(':') {
            if let Some(v) = meta(kind, key) {
                out.push_str(v.trim());
            }
        }
        rest = &after[j + 1..];
    }
    out.push_str(rest);
    out
}

/// `key` of a `pv_bootloader.<key>=` kernel command line token.
fn bootloader_arg(cmdline: &str, key: &str) -> Option<String> {
    let p = format!("pv_bootloader.{key}=");
    cmdline
        .split_whitespace()
        .find_map(|t| t.strip_prefix(&p).map(String::from))
}

/// The drivers of the running revision and what is loaded.
#[derive(Debug)]
pub struct Drivers {
    pub aliases: BTreeMap<String, Vec<String>>,
    /// Driver name → loaded (by this runtime).
    loaded: BTreeMap<String, bool>,
    /// Load order, for unloading in reverse.
    order: Vec<String>,
    modules_dir: PathBuf,
    /// Where the metadata views are: `<dir>/user-meta/<key>`,
    /// `<dir>/device-meta/<key>` (the run dir).
    meta_dir: PathBuf,
}

impl Drivers {
    /// The drivers of a state (`bsp/drivers.json`, if any), loaded from
    /// `modules_dir`, options filled from the views under `meta_dir`.
    pub fn new(drivers_json: Option<&Value>, modules_dir: PathBuf, meta_dir: PathBuf) -> Drivers {
        let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
        let aliases = match drivers_json {
            None => BTreeMap::new(),
            Some(v) => parse_aliases(
                v,
                bootloader_arg(&cmdline, "dtb").as_deref(),
                bootloader_arg(&cmdline, "ovl").as_deref(),
            )
            .unwrap_or_else(|e| {
                error!("{e}");
                BTreeMap::new()
            }),
        };
        Drivers {
            aliases,
            loaded: BTreeMap::new(),
            order: vec![],
            modules_dir,
            meta_dir,
        }
    }

    fn meta(&self, kind: &str, key: &str) -> Option<String> {
        if kind != "user-meta" && kind != "device-meta" {
            return None;
        }
        if key.is_empty() || key.contains('/') || key.starts_with('.') {
            return None;
        }
        std::fs::read_to_string(self.meta_dir.join(kind).join(key)).ok()
    }

    /// `LOADED`, `UNLOADED` or `UNKNOWN` (not offered by the BSP).
    pub fn status(&self, name: &str) -> &'static str {
        if !self.aliases.contains_key(name) {
            "UNKNOWN"
        } else if self.loaded.get(name).copied().unwrap_or(false) {
            "LOADED"
        } else {
            "UNLOADED"
        }
    }

    /// Load every module of driver `name`, in order. An unknown driver or
    /// a module that cannot be loaded is an error naming why.
    pub fn load(&mut self, name: &str) -> Result<(), String> {
        let lines =
            self.aliases.get(name).cloned().ok_or_else(|| {
                format!("driver {name} is not offered by the BSP (bsp/drivers.json)")
            })?;
        let mp = open_modprobe(&self.modules_dir).map_err(|e| format!("driver {name}: {e}"))?;
        for line in &lines {
            let line = substitute(line, &|k, key| self.meta(k, key));
            let mut it = line.splitn(2, char::is_whitespace);
            let module = it.next().unwrap_or("").trim();
            let options = it.next().unwrap_or("").trim();
            if module.is_empty() {
                continue;
            }
            match mp.load(module, options) {
                Ok(r) if !r.inserted.is_empty() => {
                    info!("driver {name}: loaded {}", r.inserted.join(", "))
                }
                Ok(_) => info!("driver {name}: module {module} was loaded already"),
                Err(e) => {
                    warn!("driver {name}: module {module}: {e}");
                    return Err(format!("driver {name}: {e}"));
                }
            }
        }
        self.loaded.insert(name.to_string(), true);
        if !self.order.iter().any(|o| o == name) {
            self.order.push(name.to_string());
        }
        Ok(())
    }

    /// Unload the modules of driver `name`, last first.
    pub fn unload(&mut self, name: &str) {
        if !self.loaded.get(name).copied().unwrap_or(false) {
            return;
        }
        let lines = self.aliases.get(name).cloned().unwrap_or_default();
        match open_modprobe(&self.modules_dir) {
            Ok(mp) => {
                for line in lines.iter().rev() {
                    let module = line.split_whitespace().next().unwrap_or("");
                    if let Err(e) = mp.unload(module) {
                        warn!("driver {name}: unload {module}: {e}");
                    }
                }
            }
            Err(e) => warn!("driver {name}: {e}"),
        }
        self.loaded.insert(name.to_string(), false);
        self.order.retain(|o| o != name);
        info!("driver {name}: unloaded");
    }

    /// Load what a container needs before it starts: its `required`
    /// drivers (an error fails the start) and its `optional` ones (an
    /// error is logged).
    pub fn load_for(
        &mut self,
        container: &str,
        uses: &[(String, DriverUse)],
    ) -> Result<(), String> {
        for (d, u) in uses {
            match u {
                DriverUse::Required => self.load(d).map_err(|e| {
                    error!("container {container}: required {e}");
                    format!("required {e}")
                })?,
                DriverUse::Optional => {
                    if let Err(e) = self.load(d) {
                        warn!("container {container}: optional {e}");
                    }
                }
                DriverUse::Manual => {}
            }
        }
        Ok(())
    }

    /// Unload everything this runtime loaded, last loaded first.
    pub fn unload_all(&mut self) {
        for d in self.order.clone().iter().rev() {
            self.unload(d);
        }
    }
}

fn open_modprobe(dir: &Path) -> Result<crate::Modprobe, String> {
    if !dir.join("modules.dep").is_file() {
        return Err(format!(
            "no kernel modules here: {} has no modules.dep",
            dir.display()
        ));
    }
    crate::Modprobe::open(dir).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_by_dtb_and_substitution() {
        let v: Value = serde_json::from_str(
            r##"{"#spec":"driver-aliases@1",
            "all":{"wifi":["iwlwifi ${user-meta:drivers.iwlwifi.opts}"],"bt":["hci_uart","btintel"]},
            "dtb:broadcom/bcm2711-rpi-4-b.dtb":{"wifi":["cfg80211","brcmfmac ${device-meta:x} p=${user-meta:y}"]}}"##,
        )
        .unwrap();
        let a = parse_aliases(&v, None, None).unwrap();
        assert_eq!(a["wifi"], ["iwlwifi ${user-meta:drivers.iwlwifi.opts}"]);
        assert_eq!(a["bt"], ["hci_uart", "btintel"]);
        let a = parse_aliases(&v, Some("broadcom/bcm2711-rpi-4-b.dtb"), None).unwrap();
        assert_eq!(a["wifi"].len(), 2);
        assert_eq!(a["bt"].len(), 2);
        let meta = |k: &str, key: &str| match (k, key) {
            ("user-meta", "drivers.iwlwifi.opts") => Some("power_save=1 11n_disable=1\n".into()),
            ("device-meta", "x") => Some("a=b".into()),
            _ => None,
        };
        assert_eq!(
            substitute("iwlwifi ${user-meta:drivers.iwlwifi.opts}", &meta),
            "iwlwifi power_save=1 11n_disable=1"
        );
        assert_eq!(
            substitute("brcmfmac ${device-meta:x} p=${user-meta:y}", &meta),
            "brcmfmac a=b p="
        );
        assert_eq!(
            substitute("m ${user-meta:open", &meta),
            "m ${user-meta:open"
        );
        assert!(parse_aliases(&serde_json::json!({"all":{"w":"x"}}), None, None).is_err());
        assert_eq!(
            bootloader_arg("a pv_bootloader.dtb=x.dtb b", "dtb").as_deref(),
            Some("x.dtb")
        );
    }

    #[test]
    fn container_lists_and_missing_modules() {
        let v = serde_json::json!({"required":["eth"],"optional":["wifi"],"manual":["bt"]});
        let u = container_drivers(Some(&v));
        assert_eq!(
            u,
            [
                ("eth".to_string(), DriverUse::Required),
                ("wifi".to_string(), DriverUse::Optional),
                ("bt".to_string(), DriverUse::Manual)
            ]
        );
        let d = tempfile::tempdir().unwrap();
        let bsp = serde_json::json!({"all":{"eth":["e1000e"],"wifi":["iwlwifi"]}});
        let mut dr = Drivers::new(Some(&bsp), d.path().join("modules"), d.path().join("run"));
        assert_eq!(dr.status("eth"), "UNLOADED");
        assert_eq!(dr.status("bt"), "UNKNOWN");
        let e = dr.load_for("app", &u).unwrap_err();
        assert!(
            e.contains("required driver eth") && e.contains("has no modules.dep"),
            "{e}"
        );
        let e = dr.load("bt").unwrap_err();
        assert_eq!(e, "driver bt is not offered by the BSP (bsp/drivers.json)");
        // optional failures do not fail the start
        assert!(dr
            .load_for("app", &[("wifi".into(), DriverUse::Optional)])
            .is_ok());
        assert_eq!(dr.status("wifi"), "UNLOADED");
    }
}
