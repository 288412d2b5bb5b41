//! Overlay images (`root.ovl.squashfs`): what an image adds to or changes in
//! a base root filesystem, plus overlayfs whiteouts (character devices 0:0)
//! for what it removes. Used by `app add --base` and `app update --patch`.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pv_fs::IoResultExt;
use rustix::fs::{AtFlags, Gid, Uid, CWD};

use crate::error::{AppError, Result};
use crate::layers::set_mtime;
use crate::squashfs::find_tool;

pub const OVL_FILE: &str = "root.ovl.squashfs";
pub const OVL_DIGEST_FILE: &str = "root.ovl.squashfs.docker-digest";

/// Unpack a squashfs image into `dest` (which must not exist).
pub fn unsquash(image: &Path, dest: &Path) -> Result<()> {
    let tool = find_tool("unsquashfs")?;
    let out = Command::new(tool)
        .args(["-no-progress", "-no-xattrs", "-d"])
        .arg(dest)
        .arg(image)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| AppError::ToolFailed {
            tool: "unsquashfs",
            status: e.to_string(),
            output: dest.to_path_buf(),
            stderr: String::new(),
        })?;
    if !out.status.success() {
        return Err(AppError::ToolFailed {
            tool: "unsquashfs",
            status: out.status.to_string(),
            output: dest.to_path_buf(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// Writes the overlay tree of `new` over `base` into `out`.
pub struct OverlayDiff<'a> {
    new: &'a Path,
    base: &'a Path,
    out: &'a Path,
    as_root: bool,
    /// Pseudo definitions (whiteouts) when not running as root.
    pub pseudo: Vec<String>,
}

impl<'a> OverlayDiff<'a> {
    pub fn new(new: &'a Path, base: &'a Path, out: &'a Path) -> Self {
        OverlayDiff {
            new,
            base,
            out,
            as_root: rustix::process::geteuid().is_root(),
            pseudo: vec![],
        }
    }

    /// Compute the overlay. Returns the number of entries written.
    pub fn run(&mut self) -> Result<usize> {
        fs::create_dir_all(self.out).at("create directory", self.out)?;
        let n = self.dir(Path::new(""))?;
        self.fix_dir_times(self.out, Path::new(""))?;
        set_mtime(self.out, 0)?;
        Ok(n)
    }

    fn names(dir: &Path) -> Result<Vec<std::ffi::OsString>> {
        let mut v: Vec<_> = match fs::read_dir(dir) {
            Ok(rd) => rd.flatten().map(|e| e.file_name()).collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => vec![],
            Err(e) => return Err(pv_fs::FsError::new("read directory", dir, e).into()),
        };
        v.sort();
        Ok(v)
    }

    /// Make sure `out/rel` exists as a directory with the metadata of `new/rel`.
    fn ensure_dir(&self, rel: &Path) -> Result<()> {
        let o = self.out.join(rel);
        if o.is_dir() {
            return Ok(());
        }
        if let Some(p) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
            self.ensure_dir(p)?;
        }
        fs::create_dir(&o).at("create directory", &o)?;
        self.copy_meta(&self.new.join(rel), &o)
    }

    fn copy_meta(&self, from: &Path, to: &Path) -> Result<()> {
        let m = fs::symlink_metadata(from).at("stat", from)?;
        if self.as_root {
            rustix::fs::chownat(
                CWD,
                to,
                Some(Uid::from_raw(m.uid())),
                Some(Gid::from_raw(m.gid())),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(io::Error::from)
            .at("chown", to)?;
        }
        if !m.file_type().is_symlink() {
            fs::set_permissions(to, fs::Permissions::from_mode(m.mode() & 0o7777))
                .at("chmod", to)?;
        }
        set_mtime(to, m.mtime())
    }

    fn dir(&mut self, rel: &Path) -> Result<usize> {
        let nd = self.new.join(rel);
        let bd = self.base.join(rel);
        let new_names = Self::names(&nd)?;
        let mut count = 0;
        for name in Self::names(&bd)? {
            if !new_names.contains(&name) {
                self.whiteout(&rel.join(&name))?;
                count += 1;
            }
        }
        for name in new_names {
            let r = rel.join(&name);
            let nm = fs::symlink_metadata(nd.join(&name)).at("stat", &nd.join(&name))?;
            let bm = fs::symlink_metadata(bd.join(&name)).ok();
            let same_kind = bm
                .as_ref()
                .is_some_and(|b| b.file_type() == nm.file_type() && b.rdev() == nm.rdev());
            if nm.is_dir() && same_kind {
                let inner = self.dir(&r)?;
                let b = bm.expect("same kind");
                let meta_differs = (b.mode(), b.uid(), b.gid()) != (nm.mode(), nm.uid(), nm.gid());
                if inner > 0 || meta_differs {
                    self.ensure_dir(&r)?;
                    count += inner + 1;
                }
            } else if !same_kind || !self.same_leaf(&r, &nm, bm.as_ref().expect("same kind"))? {
                count += self.copy_tree(&r)?;
            }
        }
        Ok(count)
    }

    fn same_leaf(&self, rel: &Path, n: &fs::Metadata, b: &fs::Metadata) -> Result<bool> {
        if (n.mode(), n.uid(), n.gid(), n.len()) != (b.mode(), b.uid(), b.gid(), b.len()) {
            return Ok(false);
        }
        let (np, bp) = (self.new.join(rel), self.base.join(rel));
        if n.file_type().is_symlink() {
            return Ok(fs::read_link(&np).at("readlink", &np)?
                == fs::read_link(&bp).at("readlink", &bp)?);
        }
        if !n.is_file() {
            return Ok(true);
        }
        same_content(&np, &bp)
    }

    /// Copy `new/rel` (and everything under it) into the overlay.
    fn copy_tree(&mut self, rel: &Path) -> Result<usize> {
        if let Some(p) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
            self.ensure_dir(p)?;
        }
        let (src, dst) = (self.new.join(rel), self.out.join(rel));
        let m = fs::symlink_metadata(&src).at("stat", &src)?;
        let ft = m.file_type();
        let mut count = 1;
        if ft.is_dir() {
            fs::create_dir(&dst).at("create directory", &dst)?;
            for name in Self::names(&src)? {
                count += self.copy_tree(&rel.join(name))?;
            }
        } else if ft.is_symlink() {
            symlink(fs::read_link(&src).at("readlink", &src)?, &dst).at("symlink", &dst)?;
        } else if ft.is_file() {
            fs::copy(&src, &dst).at("copy", &dst)?;
        } else {
            let kind = match () {
                _ if std::os::unix::fs::FileTypeExt::is_char_device(&ft) => {
                    rustix::fs::FileType::CharacterDevice
                }
                _ if std::os::unix::fs::FileTypeExt::is_block_device(&ft) => {
                    rustix::fs::FileType::BlockDevice
                }
                _ if std::os::unix::fs::FileTypeExt::is_fifo(&ft) => rustix::fs::FileType::Fifo,
                _ => return Ok(0),
            };
            rustix::fs::mknodat(
                CWD,
                &dst,
                kind,
                rustix::fs::Mode::from_raw_mode(m.mode() & 0o7777),
                m.rdev(),
            )
            .map_err(io::Error::from)
            .at("mknod", &dst)?;
        }
        self.copy_meta(&src, &dst)?;
        Ok(count)
    }

    /// An overlayfs whiteout for `rel`: a character device 0:0.
    fn whiteout(&mut self, rel: &Path) -> Result<()> {
        if let Some(p) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
            self.ensure_dir(p)?;
        }
        let dst = self.out.join(rel);
        if self.as_root {
            rustix::fs::mknodat(
                CWD,
                &dst,
                rustix::fs::FileType::CharacterDevice,
                rustix::fs::Mode::from_raw_mode(0),
                rustix::fs::makedev(0, 0),
            )
            .map_err(io::Error::from)
            .at("mknod", &dst)?;
            set_mtime(&dst, 0)?;
        } else {
            self.pseudo.push(format!("/{} c 0 0 0 0 0", rel.display()));
        }
        Ok(())
    }

    /// Directory mtimes from the new tree (they changed while filling them).
    fn fix_dir_times(&self, abs: &Path, rel: &Path) -> Result<()> {
        for e in fs::read_dir(abs).at("read directory", abs)?.flatten() {
            if e.file_type().at("stat", &e.path())?.is_dir() {
                let r: PathBuf = rel.join(e.file_name());
                self.fix_dir_times(&e.path(), &r)?;
                let m = fs::symlink_metadata(self.new.join(&r)).at("stat", &self.new.join(&r))?;
                set_mtime(&e.path(), m.mtime())?;
            }
        }
        Ok(())
    }
}

fn same_content(a: &Path, b: &Path) -> Result<bool> {
    let mut fa = fs::File::open(a).at("open", a)?;
    let mut fb = fs::File::open(b).at("open", b)?;
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = read_full(&mut fa, &mut ba).at("read", a)?;
        let m = read_full(&mut fb, &mut bb).at("read", b)?;
        if n != m || ba[..n] != bb[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(f: &mut fs::File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}
