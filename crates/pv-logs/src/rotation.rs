//! Log directory size management: the budget (`PV_LOG_DIR_MAXSIZE`), the
//! watermarks derived from it, per-file rotation (a file reaching the
//! rotation size is gzipped to `<file>.<n>.gz`, `n` one above the highest
//! present, and starts over empty) and the deletion of the oldest
//! compressed files from the largest directories when the tree grows above
//! the high watermark, until it is below the low one.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use pv_fs::{AtomicFile, FsError, IoResultExt};

use crate::DirMaxSize;

/// Size thresholds derived from the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermarks {
    /// The total budget in bytes.
    pub budget: u64,
    /// `budget / hysteresis_factor`.
    pub gap: u64,
    /// Deletion starts above this: 90 % of the budget.
    pub high: u64,
    /// Deletion stops below this: `budget - gap`.
    pub low: u64,
    /// A file this large is rotated: `gap / rotate_factor` (0: never).
    pub rotate_size: u64,
}

impl Watermarks {
    /// Derive the thresholds (factors of 0 are treated as 1).
    pub fn new(budget: u64, hysteresis_factor: u64, rotate_factor: u64) -> Self {
        let gap = budget / hysteresis_factor.max(1);
        Watermarks {
            budget,
            gap,
            high: budget / 10 * 9 + budget % 10 * 9 / 10,
            low: budget - gap,
            rotate_size: gap / rotate_factor.max(1),
        }
    }
}

/// The filesystem holding the log directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsInfo {
    /// Type from `/proc/mounts` (`tmpfs`, `ext4`, ...), empty if unknown.
    pub fstype: String,
    /// Partition size in bytes (0 if unknown).
    pub size: u64,
}

/// The budget in bytes for `spec` on a filesystem `fs`: `Auto` is 100 % of
/// a tmpfs and 10 % of anything else; an explicit size larger than the
/// partition falls back to `Auto`.
pub fn budget_for(spec: DirMaxSize, fs: &FsInfo) -> u64 {
    let auto = if fs.fstype == "tmpfs" {
        fs.size
    } else {
        fs.size / 10
    };
    match spec {
        DirMaxSize::Auto => auto,
        DirMaxSize::Percent(p) => fs.size / 100 * u64::from(p) + fs.size % 100 * u64::from(p) / 100,
        DirMaxSize::Bytes(b) if fs.size > 0 && b > fs.size => auto,
        DirMaxSize::Bytes(b) => b,
    }
}

/// Look up the filesystem of `path` in `/proc/self/mounts` (longest
/// matching mount point); the size comes from
/// `/sys/class/block/<dev>/size` (512-byte sectors) or `statvfs`.
pub fn probe_fs(path: &Path) -> FsInfo {
    let canon = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut best: Option<(usize, String, String)> = None;
    for line in mounts.lines() {
        let mut it = line.split_whitespace();
        let (Some(dev), Some(mnt), Some(fstype)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        let mnt = unescape_mount(mnt);
        if canon.starts_with(&mnt) && best.as_ref().is_none_or(|b| mnt.len() >= b.0) {
            best = Some((mnt.len(), dev.to_string(), fstype.to_string()));
        }
    }
    let (dev, fstype) = best.map(|(_, d, t)| (d, t)).unwrap_or_default();
    let from_sysfs = dev
        .strip_prefix("/dev/")
        .and_then(|name| fs::read_to_string(format!("/sys/class/block/{name}/size")).ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(|sectors| sectors * 512)
        .filter(|s| *s > 0);
    let size = from_sysfs.unwrap_or_else(|| {
        rustix::fs::statvfs(&canon)
            .map(|v| v.f_frsize.max(1) * v.f_blocks)
            .unwrap_or(0)
    });
    FsInfo { fstype, size }
}

fn unescape_mount(s: &str) -> String {
    let mut out = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v as char);
            i += 4;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Total size of the regular files under `dir` (symlinks not followed).
pub fn tree_size(dir: &Path) -> u64 {
    let Ok(rd) = fs::read_dir(dir) else { return 0 };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

/// Split `name` as `<base>.<n>.gz`.
fn rotated_parts(name: &str) -> Option<(&str, u64)> {
    let stem = name.strip_suffix(".gz")?;
    let (base, n) = stem.rsplit_once('.')?;
    if base.is_empty() || n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((base, n.parse().ok()?))
}

/// The outcome of [`rotate_if_needed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    /// The compressed file written.
    pub compressed: PathBuf,
    /// Size of the original file.
    pub original_size: u64,
    /// Size of the compressed file.
    pub compressed_size: u64,
}

/// If `file` is at least `rotate_size` bytes (and `rotate_size > 0`),
/// gzip it to `<file>.<n>.gz` and remove it.
pub fn rotate_if_needed(file: &Path, rotate_size: u64) -> Result<Option<Rotated>, FsError> {
    if rotate_size == 0 {
        return Ok(None);
    }
    let size = match fs::metadata(file) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(FsError::new("stat", file, e)),
    };
    if size < rotate_size {
        return Ok(None);
    }
    let dir = file.parent().unwrap_or(Path::new("."));
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let next = fs::read_dir(dir)
        .at("read directory", dir)?
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            rotated_parts(&n)
                .filter(|(b, _)| *b == name)
                .map(|(_, s)| s)
        })
        .max()
        .unwrap_or(0)
        + 1;
    let compressed = dir.join(format!("{name}.{next}.gz"));
    // the compressed copy is durable before the original goes (pv-fs: temp,
    // fsync, rename, fsync dir); an interrupted rotation leaves a temp
    // the janitor removes, or both files, never neither
    let mut input = File::open(file).at("open", file)?;
    let out = AtomicFile::create(&compressed)?;
    let mut enc = GzEncoder::new(out, Compression::default());
    io::copy(&mut input, &mut enc).at("compress into", &compressed)?;
    enc.finish().at("compress into", &compressed)?.commit()?;
    pv_fs::remove_durable(file)?;
    let compressed_size = fs::metadata(&compressed).map(|m| m.len()).unwrap_or(0);
    Ok(Some(Rotated {
        compressed,
        original_size: size,
        compressed_size,
    }))
}

#[derive(Debug)]
struct DirInfo {
    own_size: u64,
    /// base name → (sequence → path)
    rotated: BTreeMap<String, BTreeMap<u64, (PathBuf, u64)>>,
}

fn collect_dirs(dir: &Path, out: &mut Vec<DirInfo>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    let mut info = DirInfo {
        own_size: 0,
        rotated: BTreeMap::new(),
    };
    for e in rd.flatten() {
        let Ok(t) = e.file_type() else { continue };
        if t.is_dir() {
            collect_dirs(&e.path(), out);
        } else if t.is_file() {
            let len = e.metadata().map(|m| m.len()).unwrap_or(0);
            info.own_size += len;
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some((base, seq)) = rotated_parts(&name) {
                info.rotated
                    .entry(base.to_string())
                    .or_default()
                    .insert(seq, (e.path(), len));
            }
        }
    }
    out.push(info);
}

/// If `current` is above the high watermark, delete compressed files under
/// `root` until the size is at or below the low watermark: each round takes
/// the directory whose own files are largest (among those holding
/// compressed files), the log there with the most rotations, and removes
/// its lowest-numbered (oldest) `.gz`. Returns the new size and the files
/// removed.
pub fn enforce_budget(root: &Path, wm: &Watermarks, current: u64) -> (u64, Vec<PathBuf>) {
    let mut removed = Vec::new();
    if wm.budget == 0 || current <= wm.high {
        return (current, removed);
    }
    let mut dirs = Vec::new();
    collect_dirs(root, &mut dirs);
    let mut size = current;
    while size > wm.low {
        let Some(dir) = dirs
            .iter_mut()
            .filter(|d| !d.rotated.is_empty())
            .max_by_key(|d| d.own_size)
        else {
            break;
        };
        let base = dir
            .rotated
            .iter()
            .max_by_key(|(_, seqs)| seqs.len())
            .map(|(b, _)| b.clone())
            .unwrap_or_default();
        let Some(seqs) = dir.rotated.get_mut(&base) else {
            break;
        };
        let Some((_, (path, len))) = seqs.pop_first() else {
            break;
        };
        if seqs.is_empty() {
            dir.rotated.remove(&base);
        }
        if pv_fs::remove_durable(&path).is_ok() {
            size = size.saturating_sub(len);
            dir.own_size = dir.own_size.saturating_sub(len);
            removed.push(path);
        }
    }
    (size, removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn watermarks_match_spec_example() {
        let mb = 1u64 << 20;
        let w = Watermarks::new(512 * mb, 4, 5);
        assert_eq!(w.gap, 128 * mb);
        assert_eq!(w.low, 384 * mb);
        assert_eq!(w.high, 512 * mb * 9 / 10);
        assert_eq!(w.rotate_size, 128 * mb / 5);
        let w = Watermarks::new(10_000, 4, 5);
        assert_eq!(
            (w.gap, w.high, w.low, w.rotate_size),
            (2500, 9000, 7500, 500)
        );
        assert_eq!(Watermarks::new(10, 4, 5).rotate_size, 0);
        assert_eq!(Watermarks::new(10, 0, 0).rotate_size, 10);
    }

    #[test]
    fn budgets() {
        let tmpfs = FsInfo {
            fstype: "tmpfs".into(),
            size: 1000,
        };
        let disk = FsInfo {
            fstype: "ext4".into(),
            size: 1000,
        };
        assert_eq!(budget_for(DirMaxSize::Auto, &tmpfs), 1000);
        assert_eq!(budget_for(DirMaxSize::Auto, &disk), 100);
        assert_eq!(budget_for(DirMaxSize::Percent(20), &disk), 200);
        assert_eq!(budget_for(DirMaxSize::Bytes(500), &disk), 500);
        assert_eq!(budget_for(DirMaxSize::Bytes(5000), &disk), 100);
        let unknown = FsInfo {
            fstype: String::new(),
            size: 0,
        };
        assert_eq!(budget_for(DirMaxSize::Bytes(5000), &unknown), 5000);
    }

    #[test]
    fn probe_finds_something() {
        let d = tempfile::tempdir().unwrap();
        let info = probe_fs(d.path());
        assert!(info.size > 0, "{info:?}");
        assert_eq!(unescape_mount("/a\\040b"), "/a b");
    }

    #[test]
    fn rotation_names_and_content() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("app.log");
        fs::write(&f, "x".repeat(100)).unwrap();
        assert_eq!(rotate_if_needed(&f, 200).unwrap(), None);
        let r = rotate_if_needed(&f, 100).unwrap().unwrap();
        assert_eq!(r.compressed, d.path().join("app.log.1.gz"));
        assert!(!f.exists());
        fs::write(&f, "y".repeat(100)).unwrap();
        fs::write(d.path().join("app.log.7.gz"), "").unwrap();
        let r = rotate_if_needed(&f, 50).unwrap().unwrap();
        assert_eq!(r.compressed, d.path().join("app.log.8.gz"));
        let mut s = String::new();
        flate2::read::GzDecoder::new(File::open(&r.compressed).unwrap())
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "y".repeat(100));
        assert_eq!(rotate_if_needed(&d.path().join("none"), 1).unwrap(), None);
    }

    #[test]
    fn deletion_takes_oldest_from_largest_dir() {
        let d = tempfile::tempdir().unwrap();
        let big = d.path().join("rev/big");
        let small = d.path().join("rev/small");
        fs::create_dir_all(&big).unwrap();
        fs::create_dir_all(&small).unwrap();
        for i in 1..=4 {
            fs::write(big.join(format!("a.log.{i}.gz")), vec![0u8; 1000]).unwrap();
        }
        fs::write(big.join("a.log"), vec![0u8; 500]).unwrap();
        fs::write(small.join("b.log.1.gz"), vec![0u8; 1000]).unwrap();
        fs::write(small.join("b.log"), vec![0u8; 100]).unwrap();
        let total = tree_size(d.path());
        assert_eq!(total, 5600);
        let wm = Watermarks::new(6000, 4, 5); // high 5400, low 4500
        let (size, removed) = enforce_budget(d.path(), &wm, total);
        assert_eq!(
            removed,
            vec![big.join("a.log.1.gz"), big.join("a.log.2.gz")]
        );
        assert_eq!(size, 3600);
        assert!(size <= wm.low);
        assert_eq!(tree_size(d.path()), size);
        // below the high watermark nothing happens
        let (s2, r2) = enforce_budget(d.path(), &wm, size);
        assert_eq!((s2, r2.len()), (size, 0));
    }
}
