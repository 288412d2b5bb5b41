//! Finding and mounting the storage partition (spec §1.1: `PV_STORAGE_DEVICE`
//! as `LABEL=`, `UUID=` or a path; `PV_STORAGE_FSTYPE`; `PV_STORAGE_WAIT`;
//! `PV_STORAGE_MNTPOINT`). Labels and UUIDs are read from the ext2/3/4
//! superblock of every block device in `/sys/class/block` (no blkid).

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pv_config::{Config, Key};

use super::{console, modules};

/// The label looked for when `PV_STORAGE_DEVICE` is not set.
pub const DEFAULT_LABEL: &str = "pvroot";
/// Where the storage is mounted when `PV_STORAGE_MNTPOINT` is not set.
pub const DEFAULT_MNTPOINT: &str = "/storage";

/// How the storage device is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceSpec {
    Label(String),
    Uuid(String),
    Path(PathBuf),
}

impl DeviceSpec {
    /// `LABEL=x`, `UUID=x` or a path (`/dev/vda1`, or `vda1` for `/dev/vda1`).
    pub fn parse(s: &str) -> DeviceSpec {
        let s = s.trim();
        if let Some(l) = s.strip_prefix("LABEL=") {
            DeviceSpec::Label(l.to_string())
        } else if let Some(u) = s.strip_prefix("UUID=") {
            DeviceSpec::Uuid(u.to_ascii_lowercase())
        } else if s.starts_with('/') {
            DeviceSpec::Path(s.into())
        } else {
            DeviceSpec::Path(Path::new("/dev").join(s))
        }
    }

    fn matches(&self, dev: &Path, probe: Option<&Probe>) -> bool {
        match (self, probe) {
            (DeviceSpec::Label(l), Some(p)) => &p.label == l,
            (DeviceSpec::Uuid(u), Some(p)) => &p.uuid == u,
            (DeviceSpec::Path(p), _) => p == dev,
            _ => false,
        }
    }
}

impl std::fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceSpec::Label(l) => write!(f, "LABEL={l}"),
            DeviceSpec::Uuid(u) => write!(f, "UUID={u}"),
            DeviceSpec::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

/// What the configuration asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageSpec {
    pub device: DeviceSpec,
    /// `None`: from the superblock.
    pub fstype: Option<String>,
    pub mntpoint: PathBuf,
    /// How long one attempt waits for the device to appear.
    pub wait: Duration,
}

impl StorageSpec {
    pub fn from_config(cfg: &Config) -> StorageSpec {
        let nonempty = |k| {
            cfg.get_opt_str(k)
                .filter(|s| !s.trim().is_empty())
                .map(str::to_string)
        };
        StorageSpec {
            device: DeviceSpec::parse(
                &nonempty(Key::PvStorageDevice).unwrap_or_else(|| format!("LABEL={DEFAULT_LABEL}")),
            ),
            fstype: nonempty(Key::PvStorageFstype),
            mntpoint: nonempty(Key::PvStorageMntpoint)
                .unwrap_or_else(|| DEFAULT_MNTPOINT.into())
                .into(),
            wait: cfg
                .get_duration(Key::PvStorageWait)
                .max(Duration::from_secs(1)),
        }
    }
}

/// What a superblock says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub fstype: &'static str,
    pub uuid: String,
    pub label: String,
}

/// Offset of the ext superblock.
const EXT_SB: usize = 1024;

/// Read an ext2/3/4 superblock from the first 2 KiB of a device.
pub fn probe_ext(head: &[u8]) -> Option<Probe> {
    let sb = head.get(EXT_SB..EXT_SB + 1024)?;
    if u16::from_le_bytes([sb[0x38], sb[0x39]]) != 0xEF53 {
        return None;
    }
    let le32 = |o: usize| u32::from_le_bytes([sb[o], sb[o + 1], sb[o + 2], sb[o + 3]]);
    let (compat, incompat) = (le32(0x5C), le32(0x60));
    // extents, 64bit, flex_bg → ext4; a journal → ext3
    let fstype = if incompat & (0x40 | 0x80 | 0x200) != 0 {
        "ext4"
    } else if compat & 0x4 != 0 {
        "ext3"
    } else {
        "ext2"
    };
    let u = &sb[0x68..0x78];
    let hex: String = u.iter().map(|b| format!("{b:02x}")).collect();
    let uuid = format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    );
    let raw = &sb[0x78..0x88];
    let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
    let label = String::from_utf8_lossy(&raw[..end]).into_owned();
    Some(Probe {
        fstype,
        uuid,
        label,
    })
}

/// Probe the device node `dev` (`None`: unreadable or not ext).
pub fn probe_device(dev: &Path) -> Option<Probe> {
    let mut f = std::fs::File::open(dev).ok()?;
    let mut head = vec![0u8; 2048];
    f.seek(SeekFrom::Start(0)).ok()?;
    f.read_exact(&mut head).ok()?;
    probe_ext(&head)
}

/// The block devices with a size (`/sys/class/block/<name>` → `/dev/<name>`).
pub fn block_devices(sys_block: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(sys_block) else {
        return vec![];
    };
    let mut out: Vec<PathBuf> = rd
        .flatten()
        .filter(|e| {
            std::fs::read_to_string(e.path().join("size"))
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .is_some_and(|n| n > 0)
        })
        .map(|e| Path::new("/dev").join(e.file_name()))
        .collect();
    out.sort();
    out
}

/// The device `spec` names among the present ones, with its superblock.
pub fn find(spec: &DeviceSpec) -> Option<(PathBuf, Option<Probe>)> {
    if let DeviceSpec::Path(p) = spec {
        return p.exists().then(|| (p.clone(), probe_device(p)));
    }
    block_devices(Path::new("/sys/class/block"))
        .into_iter()
        .map(|d| {
            let p = probe_device(&d);
            (d, p)
        })
        .find(|(d, p)| spec.matches(d, p.as_ref()))
}

/// What the present block devices are, for a message.
fn seen_devices() -> String {
    let list: Vec<String> = block_devices(Path::new("/sys/class/block"))
        .into_iter()
        .map(|d| match probe_device(&d) {
            Some(p) if !p.label.is_empty() => {
                format!("{} ({} LABEL={})", d.display(), p.fstype, p.label)
            }
            Some(p) => format!("{} ({})", d.display(), p.fstype),
            None => d.display().to_string(),
        })
        .collect();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

/// One attempt: wait up to `spec.wait` for the device (coldplugging the
/// modules of `modules_dir` first), then mount it.
pub fn try_mount(spec: &StorageSpec, modules_dir: &Path) -> Result<PathBuf, String> {
    if super::mounts::mount_points()
        .iter()
        .any(|m| Path::new(m) == spec.mntpoint)
    {
        return Ok(spec.mntpoint.clone());
    }
    modules::coldplug(modules_dir);
    let deadline = Instant::now() + spec.wait;
    let mut next_coldplug = Instant::now() + Duration::from_secs(1);
    let (dev, probe) = loop {
        if let Some(found) = find(&spec.device) {
            break found;
        }
        // a bus driver loaded late brings its devices later
        if Instant::now() >= next_coldplug {
            modules::coldplug(modules_dir);
            next_coldplug = Instant::now() + Duration::from_secs(1);
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "storage {} not found after {} s (block devices: {})",
                spec.device,
                spec.wait.as_secs(),
                seen_devices()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let fstype = spec
        .fstype
        .clone()
        .or_else(|| probe.as_ref().map(|p| p.fstype.to_string()))
        .unwrap_or_else(|| "ext4".into());
    modules::load_quietly(modules_dir, &format!("fs-{fstype}"));
    std::fs::create_dir_all(&spec.mntpoint)
        .map_err(|e| format!("create directory {}: {e}", spec.mntpoint.display()))?;
    rustix::mount::mount(
        &dev,
        &spec.mntpoint,
        fstype.as_str(),
        rustix::mount::MountFlags::NOATIME,
        None,
    )
    .map_err(|e| {
        format!(
            "mount {} ({fstype}) on {}: {e}",
            dev.display(),
            spec.mntpoint.display()
        )
    })?;
    console::say(&format!(
        "storage {} ({fstype}, {}) mounted on {}",
        dev.display(),
        spec.device,
        spec.mntpoint.display()
    ));
    Ok(spec.mntpoint.clone())
}

/// Mount the storage, saying why on the console and trying again for as
/// long as it takes; never gives up (PID 1 must not exit).
pub fn mount_with_retry(spec: &StorageSpec, modules_dir: &Path) -> PathBuf {
    let mut attempt = 0u64;
    loop {
        attempt += 1;
        match try_mount(spec, modules_dir) {
            Ok(p) => return p,
            Err(why) => {
                console::say(&format!(
                    "cannot mount the storage (attempt {attempt}): {why}; trying again"
                ));
                std::thread::sleep(spec.wait);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_specs() {
        assert_eq!(
            DeviceSpec::parse("LABEL=pvroot"),
            DeviceSpec::Label("pvroot".into())
        );
        assert_eq!(
            DeviceSpec::parse("UUID=ABCD-01"),
            DeviceSpec::Uuid("abcd-01".into())
        );
        assert_eq!(
            DeviceSpec::parse("/dev/vda2"),
            DeviceSpec::Path("/dev/vda2".into())
        );
        assert_eq!(
            DeviceSpec::parse("mmcblk0p2"),
            DeviceSpec::Path("/dev/mmcblk0p2".into())
        );
        assert_eq!(DeviceSpec::parse("LABEL=x").to_string(), "LABEL=x");
    }

    #[test]
    fn storage_spec_from_config_levels() {
        let cfg = Config::new();
        let s = StorageSpec::from_config(&cfg);
        assert_eq!(s.device, DeviceSpec::Label(DEFAULT_LABEL.into()));
        assert_eq!(s.mntpoint, Path::new(DEFAULT_MNTPOINT));
        assert_eq!(s.fstype, None);
        let cfg = Config::load_boot(&pv_config::BootSources {
            config_path: None,
            cmdline: "quiet pv_storage.device=UUID=1234 pv_storage.fstype=ext4 pv_storage.wait=9",
            env: vec![],
        })
        .unwrap();
        let s = StorageSpec::from_config(&cfg);
        assert_eq!(s.device, DeviceSpec::Uuid("1234".into()));
        assert_eq!(s.fstype.as_deref(), Some("ext4"));
        assert_eq!(s.wait, Duration::from_secs(9));
    }

    #[test]
    fn not_an_ext_superblock() {
        assert_eq!(probe_ext(&[0u8; 2048]), None);
        assert_eq!(probe_ext(&[0u8; 100]), None);
    }

    /// A real superblock: `mkfs.ext4 -L … -U …` on an image file.
    #[test]
    fn label_and_uuid_of_mkfs_ext4() {
        if !pv_testkit::require_tool("mkfs.ext4") {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let img = d.path().join("s.img");
        std::fs::File::create(&img)
            .unwrap()
            .set_len(8 << 20)
            .unwrap();
        let out = std::process::Command::new("mkfs.ext4")
            .args([
                "-q",
                "-F",
                "-L",
                "pvroot",
                "-U",
                "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
            ])
            .arg(&img)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let p = probe_device(&img).expect("an ext superblock");
        assert_eq!(p.label, "pvroot");
        assert_eq!(p.uuid, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
        assert_eq!(p.fstype, "ext4");
        assert!(DeviceSpec::parse("LABEL=pvroot").matches(&img, Some(&p)));
        assert!(
            DeviceSpec::parse("UUID=0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0").matches(&img, Some(&p))
        );
        assert!(!DeviceSpec::parse("LABEL=other").matches(&img, Some(&p)));
    }
}
