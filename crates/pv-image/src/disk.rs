//! `pvimage build`: a bootable raw disk image, made without root and
//! without loop devices.
//!
//! Layout: the MBR (GRUB's `boot.img` code, our partition table), GRUB's
//! `core.img` from sector 1 in the gap before the first partition, and one
//! primary ext4 partition from 1 MiB to the end, labelled `pvroot`,
//! written by `mkfs.ext4 -d` straight into the image at its offset. The
//! partition holds the storage exactly as the runtime's factory install
//! leaves it (`pv_runtime::factory::seed`: `objects/`, `trails/0` with its
//! `.pv/` boot files, progress DONE "Factory revision", `.pv/done`), the
//! boot env `boot/grubenv` with `pv_rev=0` and `boot/grub/grub.cfg`.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use pv_boot::{BootEnv, EnvVars, GrubEnv};
use pv_fs::IoResultExt;
use pv_runtime::layout::Layout;

use crate::grub::{self, GrubBios, STORAGE_LABEL};
use crate::{Error, Result};

const SECTOR: u64 = 512;
/// The first partition starts at 1 MiB; GRUB's core.img lives before it.
pub const PART_START_LBA: u64 = 2048;
const MIB: u64 = 1 << 20;

/// The bootloader of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Bootloader {
    /// GRUB for BIOS (`grub-pc-bin`).
    #[default]
    Grub,
}

/// What `pvimage build` is given.
#[derive(Debug, Clone)]
pub struct ImageOptions {
    /// A pvr checkout, a bare repository or a `.pvrexport.tgz`.
    pub state: PathBuf,
    pub out: PathBuf,
    /// The whole image, in bytes (default: room for the factory revision
    /// and updates, at least 512 MiB).
    pub size: Option<u64>,
    pub bootloader: Bootloader,
    /// Where the device mounts the storage (`PV_STORAGE_MNTPOINT`), for
    /// the trail's `.pvr/config`.
    pub mountpoint: String,
}

/// What was built.
#[derive(Debug, Clone)]
pub struct ImageReport {
    pub size: u64,
    /// Bytes of the storage tree (hard links counted once).
    pub content: u64,
    pub core_img: u64,
}

/// Parse `512M`, `2G`, `1048576`.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                _ => return Err(Error::BadSize(s.into())),
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|n| *n > 0)
        .ok_or_else(|| Error::BadSize(s.into()))
}

/// Build the image at `opts.out` (through a temp file beside it, renamed
/// at the end).
pub fn build_image(opts: &ImageOptions) -> Result<ImageReport> {
    let Bootloader::Grub = opts.bootloader;
    let grub = GrubBios::find()?;
    let mkfs = grub::find_tool("mkfs.ext4", "e2fsprogs")?;
    let parent = match opts.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let work = tempfile::Builder::new()
        .prefix(".pvimage-")
        .tempdir_in(&parent)
        .at("create temp directory in", &parent)?;
    let storage = work.path().join("storage");
    let layout = Layout::new(&storage, &work.path().join("run"));
    layout.create()?;
    pv_runtime::factory::seed(&layout, &opts.state)?;
    let trail = layout.trail("0");
    for f in ["pv-kernel.img", "pv-initrd.img"] {
        if !trail.join(".pv").join(f).is_file() {
            return Err(Error::NotBootable(format!(
                "no {f} (bsp/run.json must name a kernel and an initrd present in bsp/; see pvimage bsp)"
            )));
        }
    }
    // the trail is read on the device, where the pool is under the mount point
    let cfg = format!(
        "{{\"ObjectsDir\": {}}}",
        pv_json::to_canonical_string(&serde_json::Value::String(format!(
            "{}/objects",
            opts.mountpoint.trim_end_matches('/')
        )))
    );
    pv_fs::write_atomic(trail.join(".pvr/config"), cfg.as_bytes())?;
    let mut vars = EnvVars::new();
    vars.set(pv_boot::PV_REV, "0");
    GrubEnv::in_storage(&storage).write(&vars)?;
    let cfg_path = storage.join("boot/grub/grub.cfg");
    std::fs::create_dir_all(cfg_path.parent().unwrap()).at("create directory", &cfg_path)?;
    pv_fs::write_atomic(&cfg_path, grub::GRUB_CFG.as_bytes())?;

    let core = grub.core_image(work.path())?;
    let gap = (PART_START_LBA - 1) * SECTOR;
    if core.len() as u64 > gap {
        return Err(Error::TooSmall {
            need: core.len() as u64,
            size: gap,
        });
    }
    let content = tree_bytes(&storage)?;
    // ext4 metadata (inode tables, journal) plus room for updates
    let need = PART_START_LBA * SECTOR + content + content / 4 + 16 * MIB;
    let size = match opts.size {
        Some(s) if s < need => return Err(Error::TooSmall { need, size: s }),
        Some(s) => s / MIB * MIB,
        None => (need + content * 2).max(512 * MIB).div_ceil(MIB) * MIB,
    };
    let fs_bytes = size - PART_START_LBA * SECTOR;

    let tmp = parent.join(format!(
        ".{}.pvimage-tmp",
        opts.out.file_name().unwrap_or_default().to_string_lossy()
    ));
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let f = std::fs::File::create(&tmp).at("create", &tmp)?;
        f.set_len(size).at("resize", &tmp)?;
        drop(f);
        let o = Command::new(&mkfs)
            .args([
                "-q",
                "-F",
                "-t",
                "ext4",
                "-b",
                "4096",
                "-L",
                STORAGE_LABEL,
                "-d",
            ])
            .arg(&storage)
            .arg("-E")
            .arg(format!("offset={},root_owner=0:0", PART_START_LBA * SECTOR))
            .arg(&tmp)
            .arg(format!("{}k", fs_bytes / 1024))
            .output()
            .at("run", &mkfs)?;
        if !o.status.success() {
            return Err(Error::Tool {
                tool: "mkfs.ext4".into(),
                status: o.status.to_string(),
                stderr: String::from_utf8_lossy(&o.stderr).trim().to_string(),
            });
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&tmp)
            .at("open", &tmp)?;
        write_mbr(
            &mut f,
            &grub.boot_code()?,
            disk_signature(&trail),
            fs_bytes / SECTOR,
        )
        .map_err(|e| Error::Partition(format!("{}: {e}", tmp.display())))?;
        f.seek(SeekFrom::Start(SECTOR)).at("seek", &tmp)?;
        f.write_all(&core).at("write", &tmp)?;
        f.sync_all().at("fsync", &tmp)?;
        pv_fs::rename_durable(&tmp, &opts.out)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    Ok(ImageReport {
        size,
        content,
        core_img: core.len() as u64,
    })
}

/// The partition table: one active Linux partition from
/// [`PART_START_LBA`], `sectors` long; the boot code in front of it.
fn write_mbr(
    f: &mut std::fs::File,
    boot_code: &[u8; 440],
    signature: [u8; 4],
    sectors: u64,
) -> std::result::Result<(), String> {
    let sectors = u32::try_from(sectors).map_err(|_| "disk larger than 2 TiB".to_string())?;
    let mut mbr = mbrman::MBR::new_from(f, SECTOR as u32, signature).map_err(|e| e.to_string())?;
    mbr.header.bootstrap_code = *boot_code;
    mbr[1] = mbrman::MBRPartitionEntry {
        boot: mbrman::BOOT_ACTIVE,
        first_chs: mbrman::CHS::empty(),
        sys: 0x83,
        last_chs: mbrman::CHS::empty(),
        starting_lba: PART_START_LBA as u32,
        sectors,
    };
    f.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    mbr.write_into(f).map_err(|e| e.to_string())
}

/// A disk signature that depends only on the factory state.
fn disk_signature(trail: &Path) -> [u8; 4] {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::fs::read(trail.join(".pvr/json"))
        .unwrap_or_default()
        .hash(&mut h);
    (h.finish() as u32).to_le_bytes()
}

/// Bytes of the regular files under `dir`, each inode once.
fn tree_bytes(dir: &Path) -> Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).at("read directory", &d)? {
            let e = e.at("read directory", &d)?;
            let md = e.metadata().at("stat", &e.path())?;
            if md.is_dir() {
                stack.push(e.path());
            } else if seen.insert(md.ino()) {
                total += md.len().div_ceil(4096) * 4096;
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("2g").unwrap(), 2 << 30);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        for bad in ["", "M", "12X", "0", "-1"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
