//! The device metadata the runtime computes from the host. The runtime adds
//! the keys only it knows (revision, status, mode, Hub state) with the
//! constants of [`keys`].

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::MetaError;

/// Device metadata key names.
pub mod keys {
    /// `<arch>/<bits>/EL|EB`.
    pub const ARCH: &str = "pantavisor.arch";
    /// Build version.
    pub const VERSION: &str = "pantavisor.version";
    /// Device-tree model.
    pub const DTMODEL: &str = "pantavisor.dtmodel";
    /// CPU model.
    pub const CPUMODEL: &str = "pantavisor.cpumodel";
    /// Running revision (set by the runtime).
    pub const REVISION: &str = "pantavisor.revision";
    /// `local` / `remote` (set by the runtime).
    pub const MODE: &str = "pantavisor.mode";
    /// Revision status (set by the runtime).
    pub const STATUS: &str = "pantavisor.status";
    /// uname as JSON.
    pub const UNAME: &str = "pantavisor.uname";
    /// `0`/`1` (set by the runtime).
    pub const PH_ONLINE: &str = "pantahub.online";
    /// `0`/`1` (set by the runtime).
    pub const PH_CLAIMED: &str = "pantahub.claimed";
    /// Hub client state (set by the runtime).
    pub const PH_STATE: &str = "pantahub.state";
    /// Network interfaces as JSON.
    pub const INTERFACES: &str = "interfaces";
    /// Storage usage as JSON.
    pub const STORAGE: &str = "storage";
    /// sysinfo(2) as JSON.
    pub const SYSINFO: &str = "sysinfo";
    /// gettimeofday(2) as JSON.
    pub const TIME: &str = "time";
}

/// `<arch>/<bits>/<EL|EB>` for the running binary, e.g. `aarch64/64/EL`.
pub fn arch() -> String {
    let bits = usize::BITS;
    let endian = if cfg!(target_endian = "little") {
        "EL"
    } else {
        "EB"
    };
    format!("{}/{bits}/{endian}", std::env::consts::ARCH)
}

/// The device-tree model (`/proc/device-tree/model`), empty if none.
pub fn dt_model() -> String {
    dt_model_from(Path::new("/proc/device-tree/model"))
}

/// The device-tree model read from `path`, empty if unreadable.
pub fn dt_model_from(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| {
            String::from_utf8_lossy(&b)
                .trim_end_matches(['\0', '\n', ' '])
                .to_string()
        })
        .unwrap_or_default()
}

/// The CPU model from `/proc/cpuinfo`, empty if unknown.
pub fn cpu_model() -> String {
    cpu_model_from(&std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default())
}

/// The CPU model in a cpuinfo text: the first `model name`, else
/// `Hardware`, else `cpu model`.
pub fn cpu_model_from(cpuinfo: &str) -> String {
    for field in ["model name", "Hardware", "cpu model"] {
        for line in cpuinfo.lines() {
            if let Some((k, v)) = line.split_once(':') {
                if k.trim() == field {
                    return v.trim().to_string();
                }
            }
        }
    }
    String::new()
}

/// `{"kernel.name","kernel.release","kernel.version","node.name","machine"}`.
pub fn uname_json() -> String {
    let u = rustix::system::uname();
    let s = |c: &std::ffi::CStr| pv_json::quote(&c.to_string_lossy());
    format!(
        "{{\"kernel.name\":{},\"kernel.release\":{},\"kernel.version\":{},\"node.name\":{},\"machine\":{}}}",
        s(u.sysname()),
        s(u.release()),
        s(u.version()),
        s(u.nodename()),
        s(u.machine())
    )
}

/// `{"timeval":{"tv_sec","tv_usec"},"timezone":{"tz_minuteswest","tz_dsttime"}}`
/// for `now` (the kernel timezone is reported as 0/0).
pub fn time_json(now: SystemTime) -> String {
    let (sec, usec) = match now.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, i64::from(d.subsec_micros())),
        Err(_) => (0, 0),
    };
    format!(
        "{{\"timeval\":{{\"tv_sec\":{sec},\"tv_usec\":{usec}}},\"timezone\":{{\"tz_minuteswest\":0,\"tz_dsttime\":0}}}}"
    )
}

/// sysinfo(2) as `{"uptime","loads.0","loads.1","loads.2","totalram",
/// "freeram","sharedram","bufferram","totalswap","freeswap","procs",
/// "totalhigh","freehigh","mem_unit"}`.
pub fn sysinfo_json() -> String {
    let i = rustix::system::sysinfo();
    format!(
        "{{\"uptime\":{},\"loads.0\":{},\"loads.1\":{},\"loads.2\":{},\"totalram\":{},\
         \"freeram\":{},\"sharedram\":{},\"bufferram\":{},\"totalswap\":{},\"freeswap\":{},\
         \"procs\":{},\"totalhigh\":{},\"freehigh\":{},\"mem_unit\":{}}}",
        i.uptime,
        i.loads[0],
        i.loads[1],
        i.loads[2],
        i.totalram,
        i.freeram,
        i.sharedram,
        i.bufferram,
        i.totalswap,
        i.freeswap,
        i.procs,
        i.totalhigh,
        i.freehigh,
        i.mem_unit
    )
}

/// Storage figures of the filesystem holding a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageUsage {
    /// Block size × blocks.
    pub total: u64,
    /// Block size × free blocks.
    pub free: u64,
    /// `total × reserved% / 100` (`PV_STORAGE_GC_RESERVED`).
    pub reserved: u64,
    /// `free − reserved`, or 0.
    pub real_free: u64,
}

impl StorageUsage {
    /// Compute the figures from raw numbers.
    pub fn from_blocks(block_size: u64, blocks: u64, free_blocks: u64, reserved_pct: u64) -> Self {
        let total = block_size * blocks;
        let free = block_size * free_blocks;
        let reserved = total / 100 * reserved_pct + total % 100 * reserved_pct / 100;
        StorageUsage {
            total,
            free,
            reserved,
            real_free: free.saturating_sub(reserved),
        }
    }

    /// `{"total","free","reserved","real_free"}`.
    pub fn to_json(&self) -> String {
        format!(
            "{{\"total\":{},\"free\":{},\"reserved\":{},\"real_free\":{}}}",
            self.total, self.free, self.reserved, self.real_free
        )
    }
}

/// Measure the filesystem holding `path` (the original uses
/// `<storage>/.pvmounted`).
pub fn storage_usage(path: &Path, reserved_pct: u64) -> Result<StorageUsage, MetaError> {
    let v = rustix::fs::statvfs(path).map_err(|e| MetaError::Probe {
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    Ok(StorageUsage::from_blocks(
        v.f_bsize,
        v.f_blocks,
        v.f_bfree,
        reserved_pct,
    ))
}

/// One address of an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfAddress {
    /// Interface name.
    pub name: String,
    /// The address.
    pub ip: IpAddr,
}

/// The addresses of the host's interfaces, in the system's order.
pub fn interface_addresses() -> Vec<IfAddress> {
    if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|i| IfAddress {
            ip: i.ip(),
            name: i.name,
        })
        .collect()
}

/// `{"<if>.ipv4":["a.b.c.d",...],...,"<if>.ipv6":["addr%<if>",...]}`: all
/// IPv4 keys first, then IPv6, each in first-seen order; link-local IPv6
/// addresses carry a `%<if>` zone.
pub fn interfaces_json(addrs: &[IfAddress]) -> String {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for v6 in [false, true] {
        for a in addrs.iter().filter(|a| a.ip.is_ipv6() == v6) {
            let key = format!("{}.{}", a.name, if v6 { "ipv6" } else { "ipv4" });
            let text = match a.ip {
                IpAddr::V6(ip) if (ip.segments()[0] & 0xffc0) == 0xfe80 => {
                    format!("{ip}%{}", a.name)
                }
                ip => ip.to_string(),
            };
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, list)) => list.push(text),
                None => groups.push((key, vec![text])),
            }
        }
    }
    let mut out = String::from("{");
    for (i, (k, list)) in groups.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let items: Vec<String> = list.iter().map(|s| pv_json::quote(s)).collect();
        let _ = write!(out, "{}:[{}]", pv_json::quote(k), items.join(","));
    }
    out.push('}');
    out
}

/// What [`host_device_meta`] needs from the runtime.
#[derive(Debug, Clone)]
pub struct HostMeta<'a> {
    /// Build version for `pantavisor.version`.
    pub version: &'a str,
    /// A path on the storage filesystem (e.g. `<storage>/.pvmounted`).
    pub storage_path: &'a Path,
    /// `PV_STORAGE_GC_RESERVED` (percent).
    pub gc_reserved_percent: u64,
}

/// Every device key computable from the host, in the order the original
/// publishes them at start: arch, version, dtmodel, cpumodel, uname, time,
/// sysinfo, storage (skipped if the storage path cannot be measured),
/// interfaces. The runtime adds revision, mode, status and the Hub keys.
pub fn host_device_meta(h: &HostMeta<'_>) -> Vec<(&'static str, String)> {
    let mut out = vec![
        (keys::ARCH, arch()),
        (keys::VERSION, h.version.to_string()),
        (keys::DTMODEL, dt_model()),
        (keys::CPUMODEL, cpu_model()),
        (keys::UNAME, uname_json()),
        (keys::TIME, time_json(SystemTime::now())),
        (keys::SYSINFO, sysinfo_json()),
    ];
    if let Ok(s) = storage_usage(h.storage_path, h.gc_reserved_percent) {
        out.push((keys::STORAGE, s.to_json()));
    }
    out.push((keys::INTERFACES, interfaces_json(&interface_addresses())));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_format() {
        let a = arch();
        let parts: Vec<_> = a.split('/').collect();
        assert_eq!(parts.len(), 3, "{a}");
        assert_eq!(parts[0], std::env::consts::ARCH);
        assert!(parts[1] == "64" || parts[1] == "32");
        assert!(parts[2] == "EL" || parts[2] == "EB");
    }

    #[test]
    fn models() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("model");
        std::fs::write(&p, b"Raspberry Pi 4 Model B Rev 1.2\0").unwrap();
        assert_eq!(dt_model_from(&p), "Raspberry Pi 4 Model B Rev 1.2");
        assert_eq!(dt_model_from(&d.path().join("none")), "");
        let cpuinfo = "processor\t: 0\nBogoMIPS\t: 108.00\nHardware\t: BCM2835\nmodel name\t: ARMv7 Processor rev 3 (v7l)\n";
        assert_eq!(cpu_model_from(cpuinfo), "ARMv7 Processor rev 3 (v7l)");
        assert_eq!(cpu_model_from("Hardware : BCM2835\n"), "BCM2835");
        assert_eq!(cpu_model_from(""), "");
    }

    #[test]
    fn json_shapes() {
        let u: serde_json::Value = serde_json::from_str(&uname_json()).unwrap();
        assert_eq!(u["kernel.name"], "Linux");
        let keys: Vec<_> = u.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys.len(), 5);
        let t = time_json(UNIX_EPOCH + std::time::Duration::from_micros(33_072_601));
        assert_eq!(
            t,
            "{\"timeval\":{\"tv_sec\":33,\"tv_usec\":72601},\"timezone\":{\"tz_minuteswest\":0,\"tz_dsttime\":0}}"
        );
        let s: serde_json::Value = serde_json::from_str(&sysinfo_json()).unwrap();
        assert!(s["totalram"].as_u64().unwrap() > 0);
        assert!(s["mem_unit"].as_u64().unwrap() >= 1);
        assert!(s.get("loads.2").is_some());
    }

    #[test]
    fn storage_figures() {
        // the numbers of the reference example: 5 % reserved
        let s = StorageUsage {
            total: 31354646528,
            free: 26463305728,
            reserved: 1567732326,
            real_free: 24895573402,
        };
        let computed = StorageUsage::from_blocks(4096, 31354646528 / 4096, 26463305728 / 4096, 5);
        assert_eq!(computed, s);
        assert_eq!(
            s.to_json(),
            "{\"total\":31354646528,\"free\":26463305728,\"reserved\":1567732326,\"real_free\":24895573402}"
        );
        assert_eq!(StorageUsage::from_blocks(1, 100, 3, 5).real_free, 0);
        let d = tempfile::tempdir().unwrap();
        let u = storage_usage(d.path(), 5).unwrap();
        assert!(u.total > 0 && u.free <= u.total);
        assert!(storage_usage(&d.path().join("missing"), 5).is_err());
    }

    #[test]
    fn interfaces_layout() {
        let a = |n: &str, ip: &str| IfAddress {
            name: n.into(),
            ip: ip.parse().unwrap(),
        };
        let got = interfaces_json(&[
            a("lo", "127.0.0.1"),
            a("lo", "::1"),
            a("eth0", "192.168.68.109"),
            a("eth0", "fe80::1b19:27ae:2cb7:5ecc"),
            a("ts0", "fd7a:115c:a1e0:ab12:4843:cd96:626d:af13"),
            a("ts0", "fe80::3706:f735:423:de8a"),
        ]);
        assert_eq!(
            got,
            "{\"lo.ipv4\":[\"127.0.0.1\"],\"eth0.ipv4\":[\"192.168.68.109\"],\
             \"lo.ipv6\":[\"::1\"],\"eth0.ipv6\":[\"fe80::1b19:27ae:2cb7:5ecc%eth0\"],\
             \"ts0.ipv6\":[\"fd7a:115c:a1e0:ab12:4843:cd96:626d:af13\",\"fe80::3706:f735:423:de8a%ts0\"]}"
        );
        assert_eq!(interfaces_json(&[]), "{}");
        let live: serde_json::Value =
            serde_json::from_str(&interfaces_json(&interface_addresses())).unwrap();
        assert!(live.is_object());
    }

    #[test]
    fn host_keys_in_order() {
        let d = tempfile::tempdir().unwrap();
        let meta = host_device_meta(&HostMeta {
            version: "019-test",
            storage_path: d.path(),
            gc_reserved_percent: 5,
        });
        let names: Vec<_> = meta.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            names,
            [
                keys::ARCH,
                keys::VERSION,
                keys::DTMODEL,
                keys::CPUMODEL,
                keys::UNAME,
                keys::TIME,
                keys::SYSINFO,
                keys::STORAGE,
                keys::INTERFACES
            ]
        );
        assert_eq!(meta[1].1, "019-test");
        for (k, v) in &meta {
            assert!(v.len() <= crate::MAX_VALUE_SIZE, "{k}");
        }
    }
}
