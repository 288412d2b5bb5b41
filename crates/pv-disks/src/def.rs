//! Disk definitions as a state declares them: `device.json` `disks`,
//! `disks_v2`, `disks_v3`, or a legacy top-level `disks.json` (spec §5.11,
//! seed "disks.json" / "disks_v2.json").

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::{Error, Result};

/// How a disk is provided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskKind {
    /// A directory that volumes live under.
    Directory { dir: PathBuf },
    /// A LUKS2 image file opened with cryptsetup (`path` is
    /// `<image>,<size MiB>,<key name>`).
    CryptVersatile {
        image: PathBuf,
        size_mib: u64,
        key: String,
    },
    /// i.MX hardware-backed crypt disks: parsed, refused when used.
    CryptHardware { kind: String },
    /// `swap-disk`: a zram device used as swap.
    ZramSwap { options: Vec<(String, String)> },
    /// `volume-disk`: a zram device formatted and mounted.
    ZramVolume {
        options: Vec<(String, String)>,
        format: String,
        format_options: String,
        mount_target: Option<String>,
    },
}

/// One disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskDef {
    pub name: String,
    /// Volumes that name no disk use this one (`"default": "yes"`).
    pub default: bool,
    pub kind: DiskKind,
    /// `-o` options for the mount (`options` in v1, `mount_options` in v2).
    pub mount_options: Option<String>,
}

impl DiskDef {
    /// The original's type name.
    pub fn type_name(&self) -> &str {
        match &self.kind {
            DiskKind::Directory { .. } => "directory",
            DiskKind::CryptVersatile { .. } => "dm-crypt-versatile",
            DiskKind::CryptHardware { kind } => kind,
            DiskKind::ZramSwap { .. } => "swap-disk",
            DiskKind::ZramVolume { .. } => "volume-disk",
        }
    }
}

/// A path of a state (`/storage/...`) on this device: under `storage`.
/// Anything else is refused, so that a revision cannot reach the host's
/// files (appengine) or the runtime's own (embedded).
pub fn storage_path(storage: &Path, disk: &str, p: &str) -> Result<PathBuf> {
    let rel = p
        .strip_prefix("/storage/")
        .or_else(|| (p == "/storage").then_some(""))
        .ok_or_else(|| Error::Definition {
            disk: disk.into(),
            detail: format!("path {p:?} must be under /storage/"),
        })?;
    let rel = rel.trim_end_matches('/');
    if rel.is_empty() {
        return Ok(storage.to_path_buf());
    }
    pv_fs::validate_rel_path(rel).map_err(|e| Error::Definition {
        disk: disk.into(),
        detail: format!("path {p:?}: {e}"),
    })?;
    Ok(storage.join(rel))
}

/// `disksize=64M comp_algorithm=lzo` (the original splits on spaces; the
/// manual says commas: both are accepted).
pub fn parse_options(s: &str, disk: &str) -> Result<Vec<(String, String)>> {
    let mut out = vec![];
    for tok in s.split([' ', ',']).filter(|t| !t.is_empty()) {
        let (k, v) = tok.split_once('=').ok_or_else(|| Error::Definition {
            disk: disk.into(),
            detail: format!("provision option {tok:?} is not key=value"),
        })?;
        if k.is_empty() || k.contains('/') || k.starts_with('.') {
            return Err(Error::Definition {
                disk: disk.into(),
                detail: format!("provision option {k:?} is not a zram attribute"),
            });
        }
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

fn str_of<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k).and_then(Value::as_str)
}

fn one(m: &Map<String, Value>, storage: &Path) -> Result<DiskDef> {
    let name = str_of(m, "name")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::Definition {
            disk: "?".into(),
            detail: "a disk has no name".into(),
        })?
        .to_string();
    if name.contains('/') || name == "." || name == ".." {
        return Err(Error::Definition {
            disk: name,
            detail: "invalid name".into(),
        });
    }
    let ty = str_of(m, "type").unwrap_or("");
    let def = |detail: String| Error::Definition {
        disk: name.clone(),
        detail,
    };
    let path = || str_of(m, "path").ok_or_else(|| def(format!("type {ty} needs a path")));
    let zram = || -> Result<Vec<(String, String)>> {
        match str_of(m, "provision") {
            Some("zram") => parse_options(str_of(m, "provision_options").unwrap_or(""), &name),
            Some(p) => Err(def(format!("provision {p:?} is not supported (only zram)"))),
            None => Err(def("a provision is required".into())),
        }
    };
    let kind = match ty {
        "directory" => DiskKind::Directory {
            dir: storage_path(storage, &name, path()?)?,
        },
        "dm-crypt-versatile" => {
            let p = path()?;
            let mut parts = p.split(',');
            let (Some(img), Some(size), Some(key), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(def(format!("path {p:?} is not <image>,<size MiB>,<key>")));
            };
            let size_mib: u64 = size
                .trim()
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| def(format!("size {size:?} is not a number of MiB")))?;
            let key = key.trim().to_string();
            pv_fs::validate_rel_path(&key)
                .ok()
                .filter(|_| !key.contains('/'))
                .ok_or_else(|| def(format!("key name {key:?} is not a file name")))?;
            DiskKind::CryptVersatile {
                image: storage_path(storage, &name, img.trim())?,
                size_mib,
                key,
            }
        }
        "dm-crypt-caam" | "dm-crypt-dcp" => DiskKind::CryptHardware { kind: ty.into() },
        "swap-disk" => {
            let format = str_of(m, "format").unwrap_or("swap");
            if format != "swap" {
                return Err(def(format!("swap disk with format {format:?}")));
            }
            DiskKind::ZramSwap { options: zram()? }
        }
        "volume-disk" => {
            let format = str_of(m, "format").unwrap_or("");
            if !matches!(format, "ext2" | "ext3" | "ext4") {
                return Err(def(format!(
                    "volume disk format {format:?} (ext2, ext3 or ext4)"
                )));
            }
            DiskKind::ZramVolume {
                options: zram()?,
                format: format.into(),
                format_options: str_of(m, "format_options").unwrap_or("").into(),
                mount_target: str_of(m, "mount_target").map(String::from),
            }
        }
        other => return Err(def(format!("unknown type {other:?}"))),
    };
    Ok(DiskDef {
        default: str_of(m, "default") == Some("yes"),
        mount_options: str_of(m, "mount_options")
            .or_else(|| str_of(m, "options"))
            .filter(|s| !s.is_empty())
            .map(String::from),
        name,
        kind,
    })
}

/// Every disk of a state: `device.json` (`disks`, `disks_v2`, `disks_v3`)
/// or, without it, `disks.json`. Names must be unique. `storage` is where
/// the state's `/storage/` paths land.
pub fn parse(
    device_json: Option<&Value>,
    disks_json: Option<&Value>,
    storage: &Path,
) -> Result<Vec<DiskDef>> {
    let mut arrays: Vec<&Value> = vec![];
    match device_json {
        Some(Value::Object(d)) => {
            for k in ["disks", "disks_v2", "disks_v3"] {
                if let Some(v) = d.get(k) {
                    arrays.push(v);
                }
            }
        }
        Some(_) => {}
        None => arrays.extend(disks_json),
    }
    let mut out: Vec<DiskDef> = vec![];
    for a in arrays {
        let Value::Array(items) = a else {
            return Err(Error::Definition {
                disk: "?".into(),
                detail: "disks must be an array".into(),
            });
        };
        for it in items {
            let Value::Object(m) = it else {
                return Err(Error::Definition {
                    disk: "?".into(),
                    detail: "a disk is not an object".into(),
                });
            };
            let d = one(m, storage)?;
            if out.iter().any(|x| x.name == d.name) {
                return Err(Error::Definition {
                    disk: d.name,
                    detail: "defined twice".into(),
                });
            }
            out.push(d);
        }
    }
    Ok(out)
}
