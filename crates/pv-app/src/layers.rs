//! Unpacking image layers into a rootfs directory.
//!
//! Per layer, in one pass: `.wh..wh..opq` empties its directory of what the
//! lower layers put there, `.wh.<name>` deletes `<name>`, and whiteout
//! entries themselves are never extracted. Member names with `..`, absolute
//! names and hard links to outside the rootfs are refused; symbolic links
//! are followed only inside the rootfs ([`crate::rootpath`]). Modes,
//! ownership (as root), symlinks, hard links, device nodes, fifos, file
//! mtimes and `SCHILY.xattr.*` attributes are kept. [`Extractor::finish`]
//! removes `usr/bin/qemu-arm-static`, creates `proc sys dev tmp var/tmp run
//! var/run`, and gives every directory its mtime from the layers (or 0), so
//! the tree is the same whenever the same layers are unpacked.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use pv_fs::IoResultExt;
use rustix::fs::{AtFlags, Gid, Timespec, Timestamps, Uid, CWD};

use crate::error::{AppError, Result};
use crate::rootpath::{join, member_components, resolve};

/// Directories every container rootfs gets.
pub const RUNTIME_DIRS: &[&str] = &["proc", "sys", "dev", "tmp", "var/tmp", "run", "var/run"];
/// Files removed from every image.
pub const STRIP_FILES: &[&str] = &["usr/bin/qemu-arm-static"];

#[derive(Debug, Clone, Copy)]
struct DirMeta {
    mode: u32,
    mtime: i64,
}

/// A uid or gid from a tar header. A malformed field or one beyond what
/// `chown` takes (`u32::MAX` means "unchanged") refuses the layer: reading
/// it as 0 would make the file root's.
fn owner_id(field: io::Result<u64>, what: &str) -> std::result::Result<u32, String> {
    match field {
        Ok(n) if n < u64::from(u32::MAX) => Ok(n as u32),
        Ok(n) => Err(format!("{what} {n} is out of range")),
        Err(e) => Err(format!("malformed {what} field: {e}")),
    }
}

/// The `uid` and `gid` PAX records of an entry, if present.
type PaxId = Option<io::Result<u64>>;
fn pax_owner<R: Read>(entry: &mut tar::Entry<'_, R>) -> (PaxId, PaxId) {
    let (mut uid, mut gid) = (None, None);
    let Ok(Some(exts)) = entry.pax_extensions() else {
        return (uid, gid);
    };
    for ext in exts {
        let Ok(ext) = ext else {
            continue;
        };
        let value = || {
            std::str::from_utf8(ext.value_bytes())
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, "PAX record is not a number")
                })
        };
        match ext.key_bytes() {
            b"uid" => uid = Some(value()),
            b"gid" => gid = Some(value()),
            _ => {}
        }
    }
    (uid, gid)
}

/// Unpacks layers, in order, into `root`.
pub struct Extractor {
    root: PathBuf,
    as_root: bool,
    dirs: BTreeMap<PathBuf, DirMeta>,
    /// mksquashfs pseudo definitions for what an unprivileged run cannot
    /// create itself (ownership, device nodes), by rootfs path.
    pseudo: BTreeMap<PathBuf, String>,
    created: HashSet<PathBuf>,
    buf: Vec<u8>,
}

impl Extractor {
    pub fn new(root: &Path) -> Self {
        Extractor {
            root: root.to_path_buf(),
            as_root: rustix::process::geteuid().is_root(),
            dirs: BTreeMap::new(),
            pseudo: BTreeMap::new(),
            created: HashSet::new(),
            buf: vec![0; 1 << 18],
        }
    }

    /// Apply one layer (an uncompressed tar stream).
    pub fn apply_layer(&mut self, reader: impl Read, label: &str) -> Result<()> {
        self.created.clear();
        let mut ar = tar::Archive::new(reader);
        let entries = ar.entries().map_err(|e| AppError::layer(label, e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| AppError::layer(label, e))?;
            self.apply_entry(&mut entry, label)?;
        }
        // Read to the end so that a verifying reader below sees every byte.
        io::copy(&mut ar.into_inner(), &mut io::sink()).map_err(|e| AppError::layer(label, e))?;
        Ok(())
    }

    fn unsafe_entry(label: &str, name: &[u8], reason: impl ToString) -> AppError {
        AppError::UnsafeEntry {
            layer: label.to_string(),
            entry: String::from_utf8_lossy(name).into_owned(),
            reason: reason.to_string(),
        }
    }

    fn apply_entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, label: &str) -> Result<()> {
        let name = entry.path_bytes().into_owned();
        let comps = member_components(&name).map_err(|r| Self::unsafe_entry(label, &name, r))?;
        let kind = entry.header().entry_type();
        if comps.is_empty() || matches!(kind, tar::EntryType::XGlobalHeader) {
            return Ok(());
        }
        let base = comps.last().expect("non-empty").as_bytes().to_vec();
        if let Some(rest) = base.strip_prefix(b".wh.") {
            let parent = &comps[..comps.len() - 1];
            let dir = resolve(&self.root, parent, true)
                .map_err(|r| Self::unsafe_entry(label, &name, r))?;
            if rest == b".wh..opq" {
                self.clear_lower(&join(&dir))?;
            } else {
                let mut target = dir;
                target.push(OsString::from(std::ffi::OsStr::from_bytes(rest)));
                self.remove(&join(&target))?;
            }
            return Ok(());
        }
        let real =
            resolve(&self.root, &comps, false).map_err(|r| Self::unsafe_entry(label, &name, r))?;
        let rel = join(&real);
        let dest = self.root.join(&rel);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).at("create directory", parent)?;
        }
        // PAX records (ids beyond the header's octal field) win over the header
        let (pax_uid, pax_gid) = pax_owner(entry);
        let h = entry.header();
        let mode = h.mode().unwrap_or(0o644) & 0o7777;
        let uid = owner_id(pax_uid.unwrap_or_else(|| h.uid()), "uid")
            .map_err(|r| Self::unsafe_entry(label, &name, r))?;
        let gid = owner_id(pax_gid.unwrap_or_else(|| h.gid()), "gid")
            .map_err(|r| Self::unsafe_entry(label, &name, r))?;
        let mtime = h.mtime().unwrap_or(0) as i64;
        let existing = fs::symlink_metadata(&dest).ok();
        if kind.is_dir() {
            match existing {
                Some(m) if m.is_dir() => {}
                Some(_) => {
                    self.remove(&rel)?;
                    fs::create_dir(&dest).at("create directory", &dest)?;
                }
                None => fs::create_dir(&dest).at("create directory", &dest)?,
            }
            self.dirs.insert(rel.clone(), DirMeta { mode, mtime });
            self.own(&rel, &dest, uid, gid, mode)?;
            self.created.insert(rel);
            return Ok(());
        }
        if existing.is_some() {
            self.remove(&rel)?;
        }
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let mut f = File::create(&dest).at("create", &dest)?;
                loop {
                    let n = entry
                        .read(&mut self.buf)
                        .map_err(|e| AppError::layer(label, e))?;
                    if n == 0 {
                        break;
                    }
                    f.write_all(&self.buf[..n]).at("write", &dest)?;
                }
                drop(f);
                self.own(&rel, &dest, uid, gid, mode)?;
                fs::set_permissions(&dest, fs::Permissions::from_mode(mode)).at("chmod", &dest)?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| Self::unsafe_entry(label, &name, "symlink without target"))?;
                symlink(std::ffi::OsStr::from_bytes(&target), &dest).at("symlink", &dest)?;
                self.own(&rel, &dest, uid, gid, mode)?;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| Self::unsafe_entry(label, &name, "hard link without target"))?;
                let tcomps = member_components(&target)
                    .map_err(|r| Self::unsafe_entry(label, &name, format!("link target: {r}")))?;
                let treal = resolve(&self.root, &tcomps, false)
                    .map_err(|r| Self::unsafe_entry(label, &name, r))?;
                let src = self.root.join(join(&treal));
                fs::hard_link(&src, &dest).map_err(|e| {
                    Self::unsafe_entry(label, &name, format!("hard link to {}: {e}", src.display()))
                })?;
                self.created.insert(rel);
                return Ok(());
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let major = h.device_major().ok().flatten().unwrap_or(0);
                let minor = h.device_minor().ok().flatten().unwrap_or(0);
                let (ft, letter) = match kind {
                    tar::EntryType::Char => (rustix::fs::FileType::CharacterDevice, 'c'),
                    tar::EntryType::Block => (rustix::fs::FileType::BlockDevice, 'b'),
                    _ => (rustix::fs::FileType::Fifo, 'f'),
                };
                if self.as_root || letter == 'f' {
                    rustix::fs::mknodat(
                        CWD,
                        &dest,
                        ft,
                        rustix::fs::Mode::from_raw_mode(mode),
                        rustix::fs::makedev(major, minor),
                    )
                    .map_err(io::Error::from)
                    .at("mknod", &dest)?;
                    self.own(&rel, &dest, uid, gid, mode)?;
                    fs::set_permissions(&dest, fs::Permissions::from_mode(mode))
                        .at("chmod", &dest)?;
                } else {
                    self.pseudo.insert(
                        rel.clone(),
                        format!("{letter} {mode:o} {uid} {gid} {major} {minor}"),
                    );
                    self.created.insert(rel);
                    return Ok(());
                }
            }
            _ => return Ok(()),
        }
        self.xattrs(entry, &dest);
        set_mtime(&dest, mtime)?;
        self.created.insert(rel);
        Ok(())
    }

    /// Ownership: `lchown` as root, else a pseudo definition for mksquashfs.
    fn own(&mut self, rel: &Path, dest: &Path, uid: u32, gid: u32, mode: u32) -> Result<()> {
        if self.as_root {
            rustix::fs::chownat(
                CWD,
                dest,
                Some(Uid::from_raw(uid)),
                Some(Gid::from_raw(gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(io::Error::from)
            .at("chown", dest)?;
        } else if uid != 0 || gid != 0 {
            self.pseudo
                .insert(rel.to_path_buf(), format!("m {mode:o} {uid} {gid}"));
        } else {
            self.pseudo.remove(rel);
        }
        Ok(())
    }

    fn xattrs<R: Read>(&self, entry: &mut tar::Entry<'_, R>, dest: &Path) {
        let Ok(Some(exts)) = entry.pax_extensions() else {
            return;
        };
        for ext in exts.flatten() {
            let Some(key) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") else {
                continue;
            };
            let _ = rustix::fs::lsetxattr(
                dest,
                std::ffi::OsStr::from_bytes(key),
                ext.value_bytes(),
                rustix::fs::XattrFlags::empty(),
            );
        }
    }

    /// Remove `rel` (anything, recursively) and forget what was recorded under it.
    fn remove(&mut self, rel: &Path) -> Result<()> {
        let p = self.root.join(rel);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(&p).at("remove", &p)?,
            Ok(_) => fs::remove_file(&p).at("remove", &p)?,
            Err(_) => {}
        }
        let under: Vec<PathBuf> = self
            .dirs
            .range(rel.to_path_buf()..)
            .take_while(|(k, _)| k.starts_with(rel))
            .map(|(k, _)| k.clone())
            .collect();
        for k in under {
            self.dirs.remove(&k);
        }
        let under: Vec<PathBuf> = self
            .pseudo
            .range(rel.to_path_buf()..)
            .take_while(|(k, _)| k.starts_with(rel))
            .map(|(k, _)| k.clone())
            .collect();
        for k in under {
            self.pseudo.remove(&k);
        }
        Ok(())
    }

    /// Opaque whiteout: remove everything under `dir` that this layer did
    /// not create.
    fn clear_lower(&mut self, dir: &Path) -> Result<()> {
        let abs = self.root.join(dir);
        let Ok(rd) = fs::read_dir(&abs) else {
            return Ok(());
        };
        let mut children: Vec<PathBuf> = rd.flatten().map(|e| dir.join(e.file_name())).collect();
        children.sort();
        for child in children {
            if !self.created.contains(&child) {
                self.remove(&child)?;
            } else if fs::symlink_metadata(self.root.join(&child)).is_ok_and(|m| m.is_dir()) {
                self.clear_lower(&child)?;
            }
        }
        let pseudo_only: Vec<PathBuf> = self
            .pseudo
            .range(dir.to_path_buf()..)
            .take_while(|(k, _)| k.starts_with(dir))
            .filter(|(k, _)| k.as_path() != dir && !self.created.contains(*k))
            .map(|(k, _)| k.clone())
            .collect();
        for k in pseudo_only {
            self.pseudo.remove(&k);
        }
        Ok(())
    }

    /// Final touches (see the module docs). Returns the pseudo definitions
    /// mksquashfs needs (empty when running as root), one per line.
    pub fn finish(self, strip_and_create: bool) -> Result<Vec<String>> {
        if strip_and_create {
            for f in STRIP_FILES {
                let comps = member_components(f.as_bytes()).expect("static path");
                if let Ok(real) = resolve(&self.root, &comps, false) {
                    let p = self.root.join(join(&real));
                    if fs::symlink_metadata(&p).is_ok_and(|m| !m.is_dir()) {
                        fs::remove_file(&p).at("remove", &p)?;
                    }
                }
            }
            for d in RUNTIME_DIRS {
                let comps = member_components(d.as_bytes()).expect("static path");
                let real = resolve(&self.root, &comps, true).unwrap_or(comps);
                let p = self.root.join(join(&real));
                if fs::symlink_metadata(&p).is_err() {
                    fs::create_dir_all(&p).at("create directory", &p)?;
                    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).at("chmod", &p)?;
                }
            }
        }
        self.fix_dirs(&self.root.clone(), Path::new(""))?;
        set_mtime(&self.root, 0)?;
        let mut lines = vec![];
        for (path, def) in &self.pseudo {
            let name = path.as_os_str().as_bytes();
            if name
                .iter()
                .any(|b| b.is_ascii_whitespace() || *b == b'"' || *b == b'\\')
            {
                continue;
            }
            lines.push(format!("/{} {def}", path.display()));
        }
        Ok(lines)
    }

    /// Post-order: directory modes from the layers, mtimes from the layers or 0.
    fn fix_dirs(&self, abs: &Path, rel: &Path) -> Result<()> {
        let rd = fs::read_dir(abs).at("read directory", abs)?;
        for e in rd {
            let e = e.at("read directory", abs)?;
            if e.file_type().at("stat", &e.path())?.is_dir() {
                let crel = rel.join(e.file_name());
                let cabs = e.path();
                self.fix_dirs(&cabs, &crel)?;
                let meta = self.dirs.get(&crel);
                if let Some(m) = meta {
                    fs::set_permissions(&cabs, fs::Permissions::from_mode(m.mode))
                        .at("chmod", &cabs)?;
                }
                set_mtime(&cabs, meta.map(|m| m.mtime).unwrap_or(0))?;
            }
        }
        Ok(())
    }
}

/// Set atime and mtime of `p` (not following a symlink).
pub fn set_mtime(p: &Path, secs: i64) -> Result<()> {
    let ts = Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    rustix::fs::utimensat(
        CWD,
        p,
        &Timestamps {
            last_access: ts,
            last_modification: ts,
        },
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(io::Error::from)
    .at("set times", p)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_file_layer(edit: impl FnOnce(&mut tar::Header)) -> Vec<u8> {
        let mut h = tar::Header::new_gnu();
        h.set_path("etc/owned").unwrap();
        h.set_size(1);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_uid(1000);
        h.set_gid(1000);
        edit(&mut h);
        h.set_cksum();
        let mut b = tar::Builder::new(vec![]);
        b.append(&h, &b"x"[..]).unwrap();
        b.into_inner().unwrap()
    }

    /// A layer whose one file has PAX records `records`.
    fn pax_layer(records: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(vec![]);
        b.append_pax_extensions(records.iter().map(|(k, v)| (*k, v.as_bytes())))
            .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_path("etc/owned").unwrap();
        h.set_size(1);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        b.into_inner().unwrap()
    }

    fn apply(layer: &[u8]) -> (tempfile::TempDir, Result<()>) {
        let d = tempfile::tempdir().unwrap();
        let mut x = Extractor::new(d.path());
        let r = x.apply_layer(layer, "sha256:l0");
        (d, r)
    }

    #[test]
    fn owner_ids_out_of_range_or_malformed_refuse_the_layer() {
        let (d, r) = apply(&one_file_layer(|_| {}));
        r.unwrap();
        assert!(d.path().join("etc/owned").is_file());
        type Edit = fn(&mut tar::Header);
        let cases: [(Edit, &str); 4] = [
            (|h| h.set_uid(1 << 32), "uid 4294967296 is out of range"),
            (
                |h| h.set_gid(u64::from(u32::MAX)),
                "gid 4294967295 is out of range",
            ),
            (
                |h| h.as_old_mut().uid = *b"zz\0\0\0\0\0\0",
                "malformed uid field",
            ),
            (
                |h| h.as_old_mut().gid = *b"-1\0\0\0\0\0\0",
                "malformed gid field",
            ),
        ];
        for (edit, why) in cases {
            let (d, r) = apply(&one_file_layer(edit));
            let err = r.unwrap_err().to_string();
            assert!(err.contains(why) && err.contains("etc/owned"), "{err}");
            assert!(!d.path().join("etc/owned").exists());
        }
    }

    #[test]
    fn pax_owner_ids_win_and_are_checked() {
        use std::os::unix::fs::MetadataExt;
        let (d, r) = apply(&pax_layer(&[("uid", "3000000"), ("gid", "3000001")]));
        r.unwrap();
        if rustix::process::geteuid().is_root() {
            let m = fs::symlink_metadata(d.path().join("etc/owned")).unwrap();
            assert_eq!((m.uid(), m.gid()), (3_000_000, 3_000_001));
        }
        for (records, why) in [
            (
                &[("uid", "4294967296")][..],
                "uid 4294967296 is out of range",
            ),
            (&[("gid", "lots")][..], "malformed gid field"),
        ] {
            let (d, r) = apply(&pax_layer(records));
            let err = r.unwrap_err().to_string();
            assert!(err.contains(why), "{err}");
            assert!(!d.path().join("etc/owned").exists());
        }
    }
}
