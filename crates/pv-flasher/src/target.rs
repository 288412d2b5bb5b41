//! Targets: block devices and files. A target that is in use (mounted,
//! a partition of it mounted, used as swap, or a file behind a mounted
//! loop device) is refused; removable devices are listed from `/sys`.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::{io, Error, Result};

/// What is being written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A block device of `size` bytes.
    Block { size: u64 },
    /// A regular file (created if missing): holes can stand for zeros.
    File,
}

/// The kind of `path`, refusing anything else.
pub fn kind(path: &Path) -> Result<Kind> {
    match std::fs::metadata(path) {
        Ok(md) if md.file_type().is_block_device() => {
            let mut f = std::fs::File::open(path).map_err(io("open", path))?;
            let size = std::io::Seek::seek(&mut f, std::io::SeekFrom::End(0))
                .map_err(io("size of", path))?;
            Ok(Kind::Block { size })
        }
        Ok(md) if md.is_file() => Ok(Kind::File),
        Ok(_) => Err(Error::BadTarget(path.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Kind::File),
        Err(e) => Err(io("stat", path)(e)),
    }
}

fn dev_string(rdev: u64) -> String {
    format!("{}:{}", rustix::fs::major(rdev), rustix::fs::minor(rdev))
}

/// `major:minor` of a block device and of its partitions.
fn device_and_partitions(devnum: &str) -> Vec<String> {
    let mut out = vec![devnum.to_string()];
    let sys = PathBuf::from("/sys/dev/block").join(devnum);
    if let Ok(rd) = std::fs::read_dir(&sys) {
        for e in rd.flatten() {
            let p = e.path();
            if p.join("partition").is_file() {
                if let Ok(d) = std::fs::read_to_string(p.join("dev")) {
                    out.push(d.trim().to_string());
                }
            }
        }
    }
    out
}

/// Where the devices `devs` are mounted or used as swap.
fn uses_of(devs: &[String], path: &Path) -> Option<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for line in info.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        if f.len() > 4 && devs.iter().any(|d| d == f[2]) {
            return Some(format!("on {}", f[4]));
        }
    }
    let swaps = std::fs::read_to_string("/proc/swaps").unwrap_or_default();
    for line in swaps.lines().skip(1) {
        let Some(dev) = line.split_whitespace().next() else {
            continue;
        };
        if let Ok(md) = std::fs::metadata(dev) {
            if md.file_type().is_block_device() && devs.contains(&dev_string(md.rdev())) {
                return Some("as swap".into());
            }
        }
        if Path::new(dev) == path {
            return Some("as swap".into());
        }
    }
    None
}

/// Refuse a target in use.
pub fn check_not_in_use(path: &Path) -> Result<()> {
    let Ok(md) = std::fs::metadata(path) else {
        return Ok(()); // a file to be created
    };
    let mounted = |what: String| Error::Mounted {
        path: path.to_path_buf(),
        what,
    };
    if md.file_type().is_block_device() {
        if let Some(w) = uses_of(&device_and_partitions(&dev_string(md.rdev())), path) {
            return Err(mounted(w));
        }
        return Ok(());
    }
    let canon = std::fs::canonicalize(path).map_err(io("resolve", path))?;
    if let Some(w) = uses_of(&[], &canon) {
        return Err(mounted(w));
    }
    // a loop device backed by this file
    for e in std::fs::read_dir("/sys/block")
        .into_iter()
        .flatten()
        .flatten()
    {
        let backing = e.path().join("loop/backing_file");
        let Ok(b) = std::fs::read_to_string(&backing) else {
            continue;
        };
        if Path::new(b.trim()) != canon {
            continue;
        }
        let Ok(d) = std::fs::read_to_string(e.path().join("dev")) else {
            continue;
        };
        if let Some(w) = uses_of(&device_and_partitions(d.trim()), path) {
            return Err(mounted(format!(
                "through /dev/{} {w}",
                e.file_name().to_string_lossy()
            )));
        }
    }
    Ok(())
}

/// A removable block device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removable {
    pub path: PathBuf,
    pub size: u64,
    pub model: String,
    /// Where it or its partitions are mounted, if anywhere.
    pub in_use: Option<String>,
}

/// Removable block devices (the `removable` flag, or on a USB bus), from
/// `sys_block` (normally `/sys/block`).
pub fn list_removable(sys_block: &Path) -> Vec<Removable> {
    let read = |p: PathBuf| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let mut out = vec![];
    let Ok(rd) = std::fs::read_dir(sys_block) else {
        return out;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if ["loop", "ram", "zram", "dm-", "md", "sr", "nbd"]
            .iter()
            .any(|p| name.starts_with(p))
        {
            continue;
        }
        let dir = e.path();
        let usb = std::fs::canonicalize(&dir)
            .map(|p| p.to_string_lossy().contains("/usb"))
            .unwrap_or(false);
        if read(dir.join("removable")) != "1" && !usb {
            continue;
        }
        let sectors: u64 = read(dir.join("size")).parse().unwrap_or(0);
        if sectors == 0 {
            continue; // an empty card reader
        }
        let model = format!(
            "{} {}",
            read(dir.join("device/vendor")),
            read(dir.join("device/model"))
        )
        .trim()
        .to_string();
        let devnum = read(dir.join("dev"));
        let path = PathBuf::from("/dev").join(&name);
        out.push(Removable {
            in_use: uses_of(&device_and_partitions(&devnum), &path),
            path,
            size: sectors * 512,
            model,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_from_a_sys_tree() {
        let d = tempfile::tempdir().unwrap();
        let mk = |name: &str, removable: &str, size: &str| {
            let p = d.path().join(name);
            std::fs::create_dir_all(p.join("device")).unwrap();
            std::fs::write(p.join("removable"), removable).unwrap();
            std::fs::write(p.join("size"), size).unwrap();
            std::fs::write(p.join("dev"), "8:16\n").unwrap();
            std::fs::write(p.join("device/model"), "Card  \n").unwrap();
        };
        mk("sdb", "1\n", "62333952\n");
        mk("sda", "0\n", "1000\n");
        mk("sdc", "1\n", "0\n");
        mk("loop0", "1\n", "100\n");
        let l = list_removable(d.path());
        assert_eq!(l.len(), 1, "{l:?}");
        assert_eq!(l[0].path, Path::new("/dev/sdb"));
        assert_eq!(l[0].size, 62333952 * 512);
        assert_eq!(l[0].model, "Card");
    }

    #[test]
    fn kinds() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(kind(&d.path().join("new.img")).unwrap(), Kind::File);
        assert!(matches!(kind(d.path()), Err(Error::BadTarget(_))));
    }
}
