//! The disks of a revision (spec §5.11, seed "Disks"): where container
//! volumes that name a disk live, and the devices behind them.
//!
//! * `directory`: a directory under the storage.
//! * `dm-crypt-versatile`: a LUKS2 image file under the storage, opened
//!   with `cryptsetup`, ext4 inside, mounted under the media directory.
//! * `swap-disk` (zram): swap on a zram device, set up at start.
//! * `volume-disk` (zram): a zram device formatted ext2/3/4 and mounted.
//!
//! Disks are mounted by the first volume that needs them ([`Disks::ensure`])
//! and torn down by [`Disks::stop_all`], in reverse order.

mod crypt;
pub mod def;
pub mod zram;

use std::path::{Path, PathBuf};
use std::process::Command;

pub use crypt::{mapper_name, OpenCrypt};
pub use def::{parse, DiskDef, DiskKind};
use tracing::{info, warn};
pub use zram::{Zram, ZramSys};

/// Errors of disk definitions and setup.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("disk {disk}: {detail}")]
    Definition { disk: String, detail: String },
    #[error("disk {0} is not defined in this revision")]
    Unknown(String),
    #[error("disk {disk}: {detail}")]
    NoDevice { disk: String, detail: String },
    #[error("disk {disk}: {cmd} failed ({status}): {stderr}")]
    Tool {
        disk: String,
        cmd: String,
        status: String,
        stderr: String,
    },
    #[error("disk {disk}: type {kind} needs i.MX crypto hardware, not available here")]
    Unsupported { disk: String, kind: String },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Fs(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The error of an `op` on `path`, for `map_err`.
    pub(crate) fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.to_path_buf();
        move |source| Error::Io { op, path, source }
    }
}

/// Run a tool; its stderr becomes the error.
pub(crate) fn run(disk: &str, prog: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(prog)
        .args(args)
        .output()
        .map_err(|e| Error::Tool {
            disk: disk.into(),
            cmd: prog.into(),
            status: "not run".into(),
            stderr: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(Error::Tool {
            disk: disk.into(),
            cmd: format!("{prog} {}", args.first().copied().unwrap_or("")),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub(crate) fn unmount(p: &Path) -> Result<()> {
    match nix::mount::umount2(p, nix::mount::MntFlags::empty()) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(e) => Err(Error::Io {
            op: "unmount",
            path: p.to_path_buf(),
            source: e.into(),
        }),
    }
}

/// Mount `dev` on `mp` with mount(8)-style `options`: flags like
/// `noatime` or `ro` become mount flags, the rest goes to the filesystem.
pub(crate) fn mount_dev(dev: &str, mp: &Path, fstype: &str, options: Option<&str>) -> Result<()> {
    use nix::mount::MsFlags as F;
    let mut flags = F::empty();
    let mut data: Vec<&str> = vec![];
    for o in options.unwrap_or("").split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => flags |= F::MS_RDONLY,
            "rw" => flags &= !F::MS_RDONLY,
            "noatime" => flags |= F::MS_NOATIME,
            "nodiratime" => flags |= F::MS_NODIRATIME,
            "relatime" => flags |= F::MS_RELATIME,
            "strictatime" => flags |= F::MS_STRICTATIME,
            "nosuid" => flags |= F::MS_NOSUID,
            "nodev" => flags |= F::MS_NODEV,
            "noexec" => flags |= F::MS_NOEXEC,
            "sync" => flags |= F::MS_SYNCHRONOUS,
            "dirsync" => flags |= F::MS_DIRSYNC,
            "defaults" | "suid" | "dev" | "exec" | "async" | "atime" => {}
            other => data.push(other),
        }
    }
    let data = data.join(",");
    nix::mount::mount(
        Some(dev),
        mp,
        Some(fstype),
        flags,
        (!data.is_empty()).then_some(data.as_str()),
    )
    .map_err(|e| Error::Io {
        op: "mount",
        path: mp.to_path_buf(),
        source: e.into(),
    })
}

/// The lock file that serializes zram claims between every process of
/// this host.
pub const ZRAM_LOCK: &str = "/run/lock/pv-zram.lock";

/// Where disks live on this device.
#[derive(Debug, Clone)]
pub struct DiskEnv {
    /// What the state's `/storage/…` paths mean.
    pub storage: PathBuf,
    /// Mount points: `<media>/dmcrypt/<disk>`, `<media>/zram/<disk>`.
    pub media: PathBuf,
    /// Where key files are looked up, first match wins (e.g. the
    /// revision's `bsp/` directory).
    pub key_dirs: Vec<PathBuf>,
    /// Where a key generated on first use is kept.
    pub key_store: PathBuf,
    pub zram: ZramSys,
    /// Serializes zram claims between processes.
    pub zram_lock: PathBuf,
}

/// Persistence of a volume on a disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    Permanent,
    Revision,
    Boot,
}

#[derive(Debug)]
enum Active {
    Dir(PathBuf),
    Crypt(OpenCrypt),
    Swap(Zram),
    Volume(Zram, PathBuf),
}

/// The disks of the running revision and the ones set up.
#[derive(Debug)]
pub struct Disks {
    pub env: DiskEnv,
    pub defs: Vec<DiskDef>,
    /// In setup order.
    active: Vec<(String, Active)>,
    /// Where what is set up is recorded, for [`reap`] after a crash.
    record: Option<PathBuf>,
}

fn is_swap_on(dev: &Path) -> bool {
    std::fs::read_to_string("/proc/swaps")
        .map(|s| {
            s.lines()
                .any(|l| l.split_whitespace().next() == Some(&*dev.to_string_lossy()))
        })
        .unwrap_or(false)
}

impl Disks {
    pub fn new(env: DiskEnv, defs: Vec<DiskDef>) -> Disks {
        Disks {
            env,
            defs,
            active: vec![],
            record: None,
        }
    }

    /// Keep a record of what is set up in `path` (a volatile file), so that
    /// a runtime that died without tearing its disks down can [`reap`] them.
    pub fn with_record(mut self, path: PathBuf) -> Disks {
        self.record = Some(path);
        self
    }

    fn save_record(&self) {
        let Some(p) = &self.record else { return };
        if self.active.is_empty() {
            let _ = std::fs::remove_file(p);
            return;
        }
        let entries: Vec<serde_json::Value> =
            self.active.iter().map(|(n, a)| record_of(n, a)).collect();
        let text = serde_json::Value::Array(entries).to_string();
        if let Some(d) = p.parent() {
            let _ = std::fs::create_dir_all(d);
        }
        if let Err(e) = pv_fs::write_replace(p, text.as_bytes()) {
            warn!("disks record: {e}");
        }
    }

    /// The disk volumes without a disk name use, if any.
    pub fn default_disk(&self) -> Option<&str> {
        self.defs
            .iter()
            .find(|d| d.default)
            .map(|d| d.name.as_str())
    }

    /// Names of the disks set up now, in setup order.
    pub fn active(&self) -> Vec<&str> {
        self.active.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Set up every swap disk (at the start of a revision).
    pub fn start_swaps(&mut self) -> Result<()> {
        let swaps: Vec<String> = self
            .defs
            .iter()
            .filter(|d| matches!(d.kind, DiskKind::ZramSwap { .. }))
            .map(|d| d.name.clone())
            .collect();
        for s in swaps {
            self.ensure(&s)?;
        }
        Ok(())
    }

    /// Set up disk `name` if it is not yet; the directory volumes on it
    /// live under (`None` for a swap disk).
    pub fn ensure(&mut self, name: &str) -> Result<Option<PathBuf>> {
        if let Some((_, a)) = self.active.iter().find(|(n, _)| n == name) {
            return Ok(base_of(a));
        }
        let def = self
            .defs
            .iter()
            .find(|d| d.name == name)
            .cloned()
            .ok_or_else(|| Error::Unknown(name.into()))?;
        let a = self.setup(&def)?;
        info!("disk {name} ({}) is set up", def.type_name());
        let base = base_of(&a);
        self.active.push((name.to_string(), a));
        self.save_record();
        Ok(base)
    }

    fn setup(&self, def: &DiskDef) -> Result<Active> {
        let name = def.name.as_str();
        let io = Error::io;
        match &def.kind {
            DiskKind::Directory { dir } => {
                std::fs::create_dir_all(dir).map_err(io("create directory", dir))?;
                Ok(Active::Dir(dir.clone()))
            }
            DiskKind::CryptVersatile {
                image,
                size_mib,
                key,
            } => {
                let mp = self.env.media.join("dmcrypt").join(name);
                crypt::open(
                    &self.env,
                    name,
                    image,
                    *size_mib,
                    key,
                    def.mount_options.as_deref(),
                    &mp,
                )
                .map(Active::Crypt)
            }
            DiskKind::CryptHardware { kind } => Err(Error::Unsupported {
                disk: name.into(),
                kind: kind.clone(),
            }),
            DiskKind::ZramSwap { options } => {
                let z = self.env.zram.claim(name, options, &self.env.zram_lock)?;
                let dev = z.device.to_string_lossy().into_owned();
                let r = run(name, "mkswap", &[&dev]).and_then(|_| run(name, "swapon", &[&dev]));
                if let Err(e) = r {
                    let _ = self.env.zram.release(&z);
                    return Err(e);
                }
                Ok(Active::Swap(z))
            }
            DiskKind::ZramVolume {
                options,
                format,
                format_options,
                mount_target,
            } => {
                let mp = match mount_target {
                    Some(t) => {
                        let rel = t.trim_start_matches('/');
                        pv_fs::validate_rel_path(rel).map_err(|e| Error::Definition {
                            disk: name.into(),
                            detail: format!("mount_target {t:?}: {e}"),
                        })?;
                        self.env.media.join(rel)
                    }
                    None => self.env.media.join("zram").join(name),
                };
                let z = self.env.zram.claim(name, options, &self.env.zram_lock)?;
                let dev = z.device.to_string_lossy().into_owned();
                let r = (|| {
                    let mut args: Vec<&str> = vec!["-q", "-F"];
                    args.extend(format_options.split_whitespace());
                    args.push(&dev);
                    run(name, &format!("mkfs.{format}"), &args)?;
                    std::fs::create_dir_all(&mp).map_err(io("create directory", &mp))?;
                    mount_dev(&dev, &mp, format, def.mount_options.as_deref())
                })();
                if let Err(e) = r {
                    let _ = self.env.zram.release(&z);
                    return Err(e);
                }
                Ok(Active::Volume(z, mp))
            }
        }
    }

    /// The directory that holds volume `vol` of `part` with `persistence`
    /// on disk `disk` (the default disk when `None`), creating it; `None`
    /// when the volume uses no disk. Boot volumes are emptied first.
    pub fn volume_dir(
        &mut self,
        disk: Option<&str>,
        persistence: Persistence,
        rev: &str,
        part: &str,
        vol: &str,
    ) -> Result<Option<PathBuf>> {
        let Some(name) = disk.or(self.default_disk()).map(String::from) else {
            return Ok(None);
        };
        let base = self.ensure(&name)?.ok_or_else(|| Error::Definition {
            disk: name.clone(),
            detail: "a swap disk cannot hold volumes".into(),
        })?;
        let check = |s: &str| {
            pv_fs::validate_rel_path(s).map_err(|e| Error::Definition {
                disk: name.clone(),
                detail: format!("volume path {s:?}: {e}"),
            })
        };
        check(part)?;
        check(vol)?;
        let dir = match persistence {
            Persistence::Permanent => base.join("perm").join(part).join(vol),
            Persistence::Revision => {
                check(rev)?;
                base.join("rev").join(rev).join(part).join(vol)
            }
            Persistence::Boot => {
                let d = base.join("boot").join(part).join(vol);
                if d.exists() {
                    std::fs::remove_dir_all(&d).map_err(|e| Error::Io {
                        op: "wipe",
                        path: d.clone(),
                        source: e,
                    })?;
                }
                d
            }
        };
        std::fs::create_dir_all(&dir).map_err(|e| Error::Io {
            op: "create directory",
            path: dir.clone(),
            source: e,
        })?;
        Ok(Some(dir))
    }

    /// Tear every disk down, last set up first. Errors are logged and
    /// returned; teardown goes on.
    pub fn stop_all(&mut self) -> Vec<Error> {
        let mut errs = vec![];
        while let Some((name, a)) = self.active.pop() {
            if let Err(e) = teardown(&name, &a, &self.env.zram) {
                errs.push(e);
            }
        }
        self.save_record();
        errs
    }
}

fn teardown(name: &str, a: &Active, zram: &ZramSys) -> Result<()> {
    let r = match a {
        Active::Dir(_) => Ok(()),
        Active::Crypt(c) => crypt::close(name, c),
        Active::Swap(z) => {
            let dev = z.device.to_string_lossy().into_owned();
            let r = if is_swap_on(&z.device) {
                run(name, "swapoff", &[&dev]).map(|_| ())
            } else {
                Ok(())
            };
            r.and_then(|_| zram.release(z))
        }
        Active::Volume(z, mp) => unmount(mp).and_then(|_| zram.release(z)),
    };
    match &r {
        Ok(()) => info!("disk {name} is torn down"),
        Err(e) => warn!("disk {name}: {e}"),
    }
    r
}

fn record_of(name: &str, a: &Active) -> serde_json::Value {
    use serde_json::json;
    let z = |z: &Zram| json!({"devno": z.devno, "hot_added": z.hot_added, "device": z.device});
    match a {
        Active::Dir(d) => json!({"name": name, "kind": "dir", "path": d}),
        Active::Crypt(c) => {
            json!({"name": name, "kind": "crypt", "mapper": c.mapper, "path": c.mountpoint})
        }
        Active::Swap(s) => json!({"name": name, "kind": "swap", "zram": z(s)}),
        Active::Volume(v, mp) => json!({"name": name, "kind": "volume", "zram": z(v), "path": mp}),
    }
}

fn active_of(v: &serde_json::Value) -> Option<(String, Active)> {
    let s = |k: &str| v.get(k).and_then(serde_json::Value::as_str);
    let zram = || {
        let z = v.get("zram")?;
        Some(Zram {
            devno: u32::try_from(z.get("devno")?.as_u64()?).ok()?,
            hot_added: z.get("hot_added")?.as_bool()?,
            device: PathBuf::from(z.get("device")?.as_str()?),
        })
    };
    let a = match s("kind")? {
        "dir" => Active::Dir(PathBuf::from(s("path")?)),
        "crypt" => Active::Crypt(OpenCrypt {
            mapper: s("mapper")?.to_string(),
            mountpoint: PathBuf::from(s("path")?),
        }),
        "swap" => Active::Swap(zram()?),
        "volume" => Active::Volume(zram()?, PathBuf::from(s("path")?)),
        _ => return None,
    };
    Some((s("name")?.to_string(), a))
}

/// Tear down what a previous runtime recorded in `record` and left set up
/// (it died without stopping): last set up first. Returns the disks torn
/// down; the record is removed.
pub fn reap(record: &Path, zram: &ZramSys) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(record) else {
        return vec![];
    };
    let entries: Vec<(String, Active)> = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| {
            v.as_array()
                .map(|a| a.iter().filter_map(active_of).collect())
        })
        .unwrap_or_default();
    let mut out = vec![];
    for (name, a) in entries.iter().rev() {
        warn!("disk {name} was left set up by a previous run: tearing it down");
        let _ = teardown(name, a, zram);
        out.push(name.clone());
    }
    let _ = std::fs::remove_file(record);
    out
}

fn base_of(a: &Active) -> Option<PathBuf> {
    match a {
        Active::Dir(d) => Some(d.clone()),
        Active::Crypt(c) => Some(c.mountpoint.clone()),
        Active::Swap(_) => None,
        Active::Volume(_, mp) => Some(mp.clone()),
    }
}

impl Drop for Disks {
    fn drop(&mut self) {
        if !self.active.is_empty() {
            self.stop_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> serde_json::Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn definitions_of_every_kind() {
        let st = Path::new("/st");
        let dj = p(r#"{"disks":[
            {"name":"built-in","path":"/storage/disks/","type":"directory","default":"yes"},
            {"name":"dm-versatile","path":"/storage/dm-crypt-file/disk1/versatile.img,8,versatile_key","type":"dm-crypt-versatile","options":"noatime"},
            {"name":"dm-caam","path":"/storage/x/caam.img,8,caam_key","type":"dm-crypt-caam"}],
          "disks_v2":[
            {"name":"zram-swap","type":"swap-disk","format":"swap","provision":"zram","provision_options":"disksize=70M comp_algorithm=lzo"},
            {"name":"zram-volume","type":"volume-disk","format":"ext4","provision":"zram","provision_options":"disksize=16M","mount_target":"/zv","mount_options":"noatime"}]}"#);
        let d = parse(Some(&dj), None, st).unwrap();
        assert_eq!(d.len(), 5);
        assert_eq!(
            d[0].kind,
            DiskKind::Directory {
                dir: "/st/disks".into()
            }
        );
        assert!(d[0].default);
        assert_eq!(
            d[1].kind,
            DiskKind::CryptVersatile {
                image: "/st/dm-crypt-file/disk1/versatile.img".into(),
                size_mib: 8,
                key: "versatile_key".into()
            }
        );
        assert_eq!(d[1].mount_options.as_deref(), Some("noatime"));
        assert_eq!(d[2].type_name(), "dm-crypt-caam");
        assert_eq!(
            d[3].kind,
            DiskKind::ZramSwap {
                options: vec![
                    ("disksize".into(), "70M".into()),
                    ("comp_algorithm".into(), "lzo".into())
                ]
            }
        );
        assert!(
            matches!(&d[4].kind, DiskKind::ZramVolume { format, mount_target: Some(t), .. } if format == "ext4" && t == "/zv")
        );
        // legacy disks.json is read only without device.json
        let legacy = p(r#"[{"name":"a","path":"/storage/a","type":"directory"}]"#);
        assert_eq!(parse(None, Some(&legacy), st).unwrap().len(), 1);
        assert!(parse(Some(&p("{}")), Some(&legacy), st).unwrap().is_empty());
    }

    #[test]
    fn bad_definitions_are_refused_with_the_reason() {
        let st = Path::new("/st");
        let e = |s: &str| parse(Some(&p(s)), None, st).unwrap_err().to_string();
        assert_eq!(
            e(r#"{"disks":[{"name":"x","path":"/etc","type":"directory"}]}"#),
            "disk x: path \"/etc\" must be under /storage/"
        );
        assert!(
            e(r#"{"disks":[{"name":"x","path":"/storage/../etc","type":"directory"}]}"#)
                .contains("path \"/storage/../etc\"")
        );
        assert!(e(
            r#"{"disks":[{"name":"x","path":"/storage/a.img,8","type":"dm-crypt-versatile"}]}"#
        )
        .contains("is not <image>,<size MiB>,<key>"));
        assert!(e(
            r#"{"disks":[{"name":"x","path":"/storage/a.img,8,../k","type":"dm-crypt-versatile"}]}"#
        )
        .contains("key name"));
        assert!(
            e(r#"{"disks_v2":[{"name":"x","type":"swap-disk","provision":"file"}]}"#)
                .contains("only zram")
        );
        assert!(e(r#"{"disks_v2":[{"name":"x","type":"swap-disk","provision":"zram","provision_options":"../reset=1"}]}"#)
            .contains("not a zram attribute"));
        assert!(e(r#"{"disks":[{"name":"x","type":"floppy"}]}"#).contains("unknown type"));
        assert!(e(r#"{"disks":[{"name":"x","path":"/storage/a","type":"directory"},{"name":"x","path":"/storage/b","type":"directory"}]}"#)
            .contains("defined twice"));
    }
}
