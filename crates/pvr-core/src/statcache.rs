//! A cache of file hashes keyed by stat data, like git's index, so that a
//! commit right after an add does not hash every file again.
//!
//! It lives under `<config dir>/cache/stat/`, never in `.pvr/` (whose
//! content is part of the compatibility contract). An entry is trusted only
//! if size, mtime, ctime and inode are unchanged AND the file's mtime is
//! clearly older than the moment the cache was written (a file modified in
//! the same timestamp tick as its hashing is always hashed again).

use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use pv_types::ObjectId;
use sha2::{Digest, Sha256};

/// Timestamps closer than this to the cache's write time are not trusted.
const RACY_NS: i128 = 50_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    ino: u64,
}

impl Stamp {
    fn of(md: &Metadata) -> Self {
        Stamp {
            size: md.size(),
            mtime_ns: md.mtime() as i128 * 1_000_000_000 + md.mtime_nsec() as i128,
            ctime_ns: md.ctime() as i128 * 1_000_000_000 + md.ctime_nsec() as i128,
            ino: md.ino(),
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct StatCache {
    path: Option<PathBuf>,
    written_ns: i128,
    old: HashMap<String, (Stamp, ObjectId)>,
    new: std::sync::Mutex<HashMap<String, (Stamp, ObjectId)>>,
}

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

impl StatCache {
    /// Load the cache of the checkout at `root` (missing or unreadable → empty).
    pub(crate) fn load(config_dir: &Path, root: &Path) -> Self {
        let key = hex::encode(&Sha256::digest(root.as_os_str().as_encoded_bytes())[..12]);
        let path = config_dir.join("cache").join("stat").join(key);
        let mut c = StatCache {
            path: Some(path.clone()),
            ..Default::default()
        };
        let Ok(text) = std::fs::read_to_string(&path) else {
            return c;
        };
        let mut lines = text.lines();
        c.written_ns = lines.next().and_then(|l| l.parse().ok()).unwrap_or(0);
        for line in lines {
            let Some((head, rel)) = line.split_once('\t') else {
                continue;
            };
            let f: Vec<&str> = head.split(' ').collect();
            if f.len() != 5 {
                continue;
            }
            let (Ok(sha), Ok(size), Ok(m), Ok(cn), Ok(ino)) = (
                f[0].parse(),
                f[1].parse(),
                f[2].parse(),
                f[3].parse(),
                f[4].parse(),
            ) else {
                continue;
            };
            c.old.insert(
                rel.to_string(),
                (
                    Stamp {
                        size,
                        mtime_ns: m,
                        ctime_ns: cn,
                        ino,
                    },
                    sha,
                ),
            );
        }
        c
    }

    /// The cached hash of `rel`, if its stat data proves it unchanged.
    pub(crate) fn lookup(&self, rel: &str, md: &Metadata) -> Option<ObjectId> {
        let (stamp, sha) = self.old.get(rel)?;
        let now = Stamp::of(md);
        if *stamp == now
            && now.mtime_ns + RACY_NS < self.written_ns
            && now.ctime_ns + RACY_NS < self.written_ns
        {
            self.remember(rel, md, *sha);
            Some(*sha)
        } else {
            None
        }
    }

    /// Record the hash of `rel` computed now.
    pub(crate) fn remember(&self, rel: &str, md: &Metadata, sha: ObjectId) {
        self.new
            .lock()
            .expect("stat cache lock")
            .insert(rel.to_string(), (Stamp::of(md), sha));
    }

    /// Write the entries remembered in this run (best effort: a cache that
    /// cannot be written only costs time).
    pub(crate) fn save(&self) {
        let Some(path) = &self.path else { return };
        let new = self.new.lock().expect("stat cache lock");
        let mut out = format!("{}\n", now_ns());
        let mut keys: Vec<&String> = new.keys().collect();
        keys.sort();
        for k in keys {
            if k.contains('\n') {
                continue;
            }
            let (s, sha) = &new[k];
            out.push_str(&format!(
                "{sha} {} {} {} {}\t{k}\n",
                s.size, s.mtime_ns, s.ctime_ns, s.ino
            ));
        }
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        // a cache: replaced atomically, but losing it in a crash only
        // costs a re-hash, so no fsync
        let _ = pv_fs::write_replace(path, out.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_files_are_not_trusted_old_ones_are() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("repo");
        std::fs::create_dir(&root).unwrap();
        let f = root.join("a");
        std::fs::write(&f, b"x").unwrap();
        let c = StatCache::load(d.path(), &root);
        let md = std::fs::metadata(&f).unwrap();
        c.remember("a", &md, ObjectId::of(b"x"));
        c.save();
        // written right after the file: racy, must not be trusted
        let c2 = StatCache::load(d.path(), &root);
        assert_eq!(c2.lookup("a", &md), None);
        std::thread::sleep(std::time::Duration::from_millis(120));
        c2.remember("a", &md, ObjectId::of(b"x"));
        c2.save();
        let c3 = StatCache::load(d.path(), &root);
        assert_eq!(c3.lookup("a", &md), Some(ObjectId::of(b"x")));
        std::fs::write(&f, b"y").unwrap();
        assert_eq!(c3.lookup("a", &std::fs::metadata(&f).unwrap()), None);
    }
}
