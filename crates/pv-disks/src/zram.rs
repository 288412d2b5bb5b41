//! zram devices: claim a free one (or hot-add one), configure it through
//! sysfs, reset and release it.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Where the kernel shows zram (movable for tests).
#[derive(Debug, Clone)]
pub struct ZramSys {
    pub block: PathBuf,
    pub control: PathBuf,
    pub dev: PathBuf,
}

impl Default for ZramSys {
    fn default() -> Self {
        ZramSys {
            block: "/sys/block".into(),
            control: "/sys/class/zram-control".into(),
            dev: "/dev".into(),
        }
    }
}

/// A zram device this runtime configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zram {
    pub devno: u32,
    /// Created by `hot_add`: removed again at release.
    pub hot_added: bool,
    pub device: PathBuf,
}

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
}

fn write_attr(p: &Path, value: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().write(true).open(p)?;
    f.write_all(value.as_bytes())
}

impl ZramSys {
    fn attr(&self, devno: u32, key: &str) -> PathBuf {
        self.block.join(format!("zram{devno}")).join(key)
    }

    /// Claim an uninitialized zram device (or hot-add one), set `options`
    /// (`disksize` last: the other attributes only apply before it), and
    /// return it. Serialized against other claimers by a lock file.
    pub fn claim(&self, disk: &str, options: &[(String, String)], lock: &Path) -> Result<Zram> {
        let sys_err = |op: &'static str, path: &Path, e: std::io::Error| Error::Io {
            op,
            path: path.to_path_buf(),
            source: e,
        };
        if !options.iter().any(|(k, _)| k == "disksize") {
            return Err(Error::Definition {
                disk: disk.into(),
                detail: "zram provision_options need a disksize".into(),
            });
        }
        if let Some(d) = lock.parent() {
            std::fs::create_dir_all(d).map_err(|e| sys_err("create directory", d, e))?;
        }
        let lf = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(lock)
            .map_err(|e| sys_err("open", lock, e))?;
        rustix::fs::flock(&lf, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| sys_err("lock", lock, e.into()))?;
        let mut found = None;
        for n in 0..256u32 {
            let dir = self.block.join(format!("zram{n}"));
            if !dir.exists() {
                continue;
            }
            if read(&dir.join("initstate")).as_deref() == Some("0") {
                found = Some((n, false));
                break;
            }
        }
        let (devno, hot_added) = match found {
            Some(f) => f,
            None => {
                let p = self.control.join("hot_add");
                let n = read(&p)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| Error::NoDevice {
                        disk: disk.into(),
                        detail: format!("no free zram device and none from {}", p.display()),
                    })?;
                (n, true)
            }
        };
        let z = Zram {
            devno,
            hot_added,
            device: self.dev.join(format!("zram{devno}")),
        };
        let ordered = options
            .iter()
            .filter(|(k, _)| k != "disksize")
            .chain(options.iter().filter(|(k, _)| k == "disksize"));
        for (k, v) in ordered {
            let p = self.attr(devno, k);
            if let Err(e) = write_attr(&p, v) {
                let _ = self.release(&z);
                return Err(Error::Io {
                    op: "write zram attribute",
                    path: p,
                    source: e,
                });
            }
        }
        Ok(z)
    }

    /// Reset the device (its data is gone) and hot-remove it if we added it.
    pub fn release(&self, z: &Zram) -> Result<()> {
        let p = self.attr(z.devno, "reset");
        write_attr(&p, "1").map_err(|e| Error::Io {
            op: "reset zram",
            path: p,
            source: e,
        })?;
        if z.hot_added {
            let p = self.control.join("hot_remove");
            write_attr(&p, &z.devno.to_string()).map_err(|e| Error::Io {
                op: "remove zram",
                path: p,
                source: e,
            })?;
        }
        Ok(())
    }
}
