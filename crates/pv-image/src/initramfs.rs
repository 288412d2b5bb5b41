//! Our initramfs: a newc cpio archive, gzip-compressed, with the static
//! `pantavisor` as `/init`, the directories and device nodes PID 1 needs
//! before anything is mounted, its configuration and the kernel modules
//! that reaching the storage needs.
//!
//! The archive is reproducible: entries sorted, owned by root, mtime 0,
//! inode numbers counted from 1.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use pv_fs::IoResultExt;

use crate::{Error, Result};

/// One entry of the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir,
    File { data: Source, mode: u32 },
    Symlink(String),
    CharDev { major: u32, minor: u32 },
}

/// Where a file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Bytes(Vec<u8>),
    Host(PathBuf),
}

/// The tree of an initramfs, by path without the leading `/`.
#[derive(Debug, Default, Clone)]
pub struct Initramfs {
    entries: BTreeMap<String, Entry>,
}

/// The directories PID 1 mounts on or writes into before the storage is
/// there.
pub const BASE_DIRS: &[&str] = &[
    "dev",
    "proc",
    "sys",
    "run",
    "tmp",
    "root",
    "etc",
    "storage",
    "volumes",
    "configs",
    "exports",
    "writable",
    "media",
    "lib/modules",
    "lib/firmware",
];

impl Initramfs {
    /// The base tree: [`BASE_DIRS`], `/dev/console` and `/dev/null` (the
    /// kernel opens the console for `/init` before devtmpfs is mounted),
    /// an empty `/etc/resolv.conf`.
    pub fn base() -> Initramfs {
        let mut t = Initramfs::default();
        for d in BASE_DIRS {
            t.add(d, Entry::Dir);
        }
        t.add("dev/console", Entry::CharDev { major: 5, minor: 1 });
        t.add("dev/null", Entry::CharDev { major: 1, minor: 3 });
        // containers bind it (their DNS follows the device's)
        t.add(
            "etc/resolv.conf",
            Entry::File {
                data: Source::Bytes(vec![]),
                mode: 0o644,
            },
        );
        t
    }

    /// Add (or replace) `path`, creating its parent directories.
    pub fn add(&mut self, path: &str, entry: Entry) {
        let path = path.trim_start_matches('/').to_string();
        let mut parent = Path::new(&path).parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            self.entries
                .entry(p.to_string_lossy().into_owned())
                .or_insert(Entry::Dir);
            parent = p.parent();
        }
        self.entries.insert(path, entry);
    }

    /// Add a host directory tree under `dest` (regular files, directories,
    /// symlinks; anything else is refused).
    pub fn add_tree(&mut self, host: &Path, dest: &str) -> Result<()> {
        self.add(dest, Entry::Dir);
        let mut names: Vec<_> = std::fs::read_dir(host)
            .at("read directory", host)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()
            .at("read directory", host)?;
        names.sort();
        for name in names {
            let p = host.join(&name);
            let d = format!("{dest}/{}", name.to_string_lossy());
            let md = std::fs::symlink_metadata(&p).at("stat", &p)?;
            if md.is_dir() {
                self.add_tree(&p, &d)?;
            } else if md.is_file() {
                use std::os::unix::fs::PermissionsExt;
                let mode = md.permissions().mode() & 0o7777;
                self.add(
                    &d,
                    Entry::File {
                        data: Source::Host(p),
                        mode,
                    },
                );
            } else if md.file_type().is_symlink() {
                let t = std::fs::read_link(&p).at("read link", &p)?;
                self.add(&d, Entry::Symlink(t.to_string_lossy().into_owned()));
            } else {
                return Err(Error::input(p, "not a file, directory or symlink"));
            }
        }
        Ok(())
    }

    /// The paths in the archive, in archive order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Write the archive (newc, then gzip) to `out`.
    pub fn write_gz<W: Write>(&self, out: W) -> Result<W> {
        let mut gz = GzEncoder::new(out, flate2::Compression::best());
        self.write_cpio(&mut gz)?;
        gz.finish().map_err(|e| io_err("gzip", e))
    }

    /// Write the uncompressed newc archive.
    pub fn write_cpio<W: Write>(&self, mut w: W) -> Result<()> {
        for (ino, (path, entry)) in self.entries.iter().enumerate() {
            let b = cpio::newc::Builder::new(path)
                .ino(ino as u32 + 1)
                .uid(0)
                .gid(0)
                .mtime(0);
            match entry {
                Entry::Dir => {
                    let wr = b.mode(0o040755).nlink(2).write(&mut w, 0);
                    wr.finish().map_err(|e| io_err(path, e))?;
                }
                Entry::File { data, mode } => {
                    let bytes = match data {
                        Source::Bytes(b) => b.clone(),
                        Source::Host(p) => std::fs::read(p).at("read", p)?,
                    };
                    let size = u32::try_from(bytes.len())
                        .map_err(|_| Error::input(path, "larger than 4 GiB"))?;
                    let mut wr = b.mode(0o100000 | mode).nlink(1).write(&mut w, size);
                    wr.write_all(&bytes).map_err(|e| io_err(path, e))?;
                    wr.finish().map_err(|e| io_err(path, e))?;
                }
                Entry::Symlink(target) => {
                    let mut wr = b.mode(0o120777).nlink(1).write(&mut w, target.len() as u32);
                    wr.write_all(target.as_bytes())
                        .map_err(|e| io_err(path, e))?;
                    wr.finish().map_err(|e| io_err(path, e))?;
                }
                Entry::CharDev { major, minor } => {
                    let wr = b
                        .mode(0o020600)
                        .nlink(1)
                        .rdev_major(*major)
                        .rdev_minor(*minor)
                        .write(&mut w, 0);
                    wr.finish().map_err(|e| io_err(path, e))?;
                }
            }
        }
        cpio::newc::trailer(&mut w).map_err(|e| io_err("trailer", e))?;
        Ok(())
    }
}

fn io_err(what: &str, e: std::io::Error) -> Error {
    Error::input(PathBuf::from(what), format!("writing the archive: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_back(bytes: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
        let mut out = vec![];
        let mut r = bytes;
        loop {
            let mut rd = cpio::NewcReader::new(r).unwrap();
            if rd.entry().is_trailer() {
                break;
            }
            let name = rd.entry().name().to_string();
            let mode = rd.entry().mode();
            let mut data = vec![];
            std::io::Read::read_to_end(&mut rd, &mut data).unwrap();
            out.push((name, mode, data));
            r = rd.finish().unwrap();
        }
        out
    }

    #[test]
    fn parents_devices_and_files() {
        let mut t = Initramfs::base();
        t.add(
            "init",
            Entry::File {
                data: Source::Bytes(b"#!x".to_vec()),
                mode: 0o755,
            },
        );
        t.add(
            "lib/modules/6.1/kernel/a.ko",
            Entry::File {
                data: Source::Bytes(b"ko".to_vec()),
                mode: 0o644,
            },
        );
        let mut buf = vec![];
        t.write_cpio(&mut buf).unwrap();
        let e = read_back(&buf);
        let names: Vec<_> = e.iter().map(|x| x.0.as_str()).collect();
        assert!(names.contains(&"lib/modules/6.1/kernel"));
        let init = e.iter().find(|x| x.0 == "init").unwrap();
        assert_eq!(init.1, 0o100755);
        assert_eq!(init.2, b"#!x");
        let console = e.iter().find(|x| x.0 == "dev/console").unwrap();
        assert_eq!(console.1 & 0o170000, 0o020000);
        // parents come before children (the kernel needs the directory first)
        let pos = |n: &str| names.iter().position(|x| *x == n).unwrap();
        assert!(pos("lib/modules/6.1") < pos("lib/modules/6.1/kernel/a.ko"));
    }

    #[test]
    fn reproducible() {
        let mk = || {
            let mut t = Initramfs::base();
            t.add("etc/x", Entry::Symlink("y".into()));
            t.write_gz(Vec::new()).unwrap()
        };
        assert_eq!(mk(), mk());
    }
}
