//! The bootloader state the update engine drives: which revision is
//! committed (`pv_rev`), which is being tried (`pv_try`), and whether the
//! try has been attempted (`pv_trying`).
//!
//! # Contract
//!
//! [`BootEnv::install`] sets `pv_try`; [`BootEnv::commit`] sets `pv_rev`
//! and clears `pv_try`; [`BootEnv::fail`] clears `pv_try`. At power on the
//! bootloader applies [`select_boot`]: no `pv_try` → boot `pv_rev`; a
//! `pv_try` not yet attempted → mark it in `pv_trying` and boot it; an
//! attempted one → clear the mark and boot `pv_rev` (rollback).
//! [`BootState`] gives the derived predicates (update in progress, trying
//! update).
//!
//! # Durability
//!
//! Every transition reads the env, changes it in memory and writes the
//! whole file once, so commit sets `pv_rev` and clears `pv_try` in the same
//! write. An existing file of the new content's size (the fixed-size GRUB
//! block and U-Boot file always are) is overwritten in place, in one
//! write at offset 0 then fsync, as the original and GRUB's own `save_env`
//! do: a bootloader reads the filesystem without replaying its journal, so
//! after a power cut it would still see the directory entry and extents of
//! a file replaced by rename, pointing at blocks freed and maybe reused
//! since (GRUB then finds an "invalid environment block" and boots the
//! factory revision). Its blocks never move, so what the bootloader reads
//! is the last write that reached the disk. A missing file, or one of
//! another size, is replaced through [`pv_fs::AtomicFile`] (temp file,
//! fsync, rename, fsync of the directory). Readers only open the env path,
//! never a leftover temp file. A missing file reads as an empty env; a
//! corrupt one is a [`BootError::Corrupt`] naming the file. Variables
//! Pantavisor does not own are kept on rewrite.
//!
//! # Backends and the trying marker
//!
//! - [`UbootEnv`], `boot/uboot.txt`: NUL-separated records (see
//!   [`encode_nul`]). Real U-Boot keeps `pv_trying` in its own `pv.env` and
//!   discards any `pv_trying` found in `uboot.txt`; the appengine wrapper
//!   (which plays the bootloader) keeps it in `uboot.txt` itself, which is
//!   what [`BootEnv::boot`] does.
//! - [`GrubEnv`], `boot/grubenv`: GRUB environment block; `pv_trying` is a
//!   variable of the same block.
//! - [`UbootTextEnv`]: `key=value` lines; `pv_trying` in the same file.
//!
//! Install, commit and fail also drop `pv_trying`, so every new try starts
//! unattempted (even when a revision name is reused) and a committed env
//! holds only `pv_rev` (and what others stored). Encoders write `pv_rev`
//! first and `pv_try` second, the order the original appengine wrapper's
//! parser expects.

mod error;
mod grub;
mod state;
mod uboot;
mod uboot_text;
mod vars;

use std::io::Write;
use std::path::Path;

use pv_fs::{AtomicFile, IoResultExt};

pub use error::{BootError, FormatError};
pub use grub::{decode_grubenv, encode_grubenv, GrubEnv, GRUB_BLOCK_SIZE, GRUB_HEADER};
pub use state::{select_boot, BootState, FACTORY_REV};
pub use uboot::{decode_nul, encode_nul, UbootEnv, UBOOT_FILE_SIZE, UBOOT_READ_WINDOW};
pub use uboot_text::{decode_text, encode_text, UbootTextEnv};
pub use vars::{EnvVars, PV_REV, PV_TRY, PV_TRYING};

/// A bootloader environment file. Backends provide the path and the
/// codec; reading, atomic writing and the transitions are shared.
pub trait BootEnv {
    /// The env file.
    fn path(&self) -> &Path;

    /// Parse the file content.
    fn decode(&self, bytes: &[u8]) -> Result<EnvVars, FormatError>;

    /// Render the whole file.
    fn encode(&self, vars: &EnvVars) -> Result<Vec<u8>, FormatError>;

    /// Permission bits for a newly written file.
    fn file_mode(&self) -> u32 {
        0o644
    }

    /// Read the env; a missing file is an empty env.
    fn read(&self) -> Result<EnvVars, BootError> {
        let path = self.path();
        match std::fs::read(path) {
            Ok(bytes) => self.decode(&bytes).map_err(|source| BootError::Corrupt {
                path: path.to_path_buf(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(EnvVars::new()),
            Err(e) => Err(pv_fs::FsError::new("read", path, e).into()),
        }
    }

    /// Write `vars` as the env file: in place when the file exists with
    /// the new content's size, else replaced in one atomic step (creating
    /// the parent directory if needed). See the crate's "Durability".
    fn write(&self, vars: &EnvVars) -> Result<(), BootError> {
        let path = self.path();
        let bytes = self.encode(vars).map_err(|source| BootError::Unwritable {
            path: path.to_path_buf(),
            source,
        })?;
        if overwrite_in_place(path, &bytes)? {
            return Ok(());
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).at("create directory", dir)?;
        }
        let mut file = AtomicFile::create_with_mode(path, self.file_mode())?;
        file.write_all(&bytes).at("write", path)?;
        file.commit()?;
        Ok(())
    }

    /// `pv_rev`, `pv_try` and `pv_trying`.
    fn state(&self) -> Result<BootState, BootError> {
        Ok(BootState::from_vars(&self.read()?))
    }

    /// Start trying `rev`: `pv_try = rev` (and a fresh, unattempted try).
    ///
    /// First the filesystem of the env is synced whole (`syncfs`: its
    /// journal committed, then its metadata written to their home
    /// blocks): a bootloader reads the storage without replaying the
    /// journal, so a trail published by renames whose metadata still
    /// lived only in the journal would be missing to it after a power
    /// cut, and the try would fall back at once (found by image-test's
    /// power cuts: a non-reboot update UPDATED, cut, GRUB could not find
    /// the tried trail's `.pv/pv-cmdline` and booted `pv_rev`).
    fn install(&self, rev: &str) -> Result<(), BootError> {
        sync_for_bootloader(self.path())?;
        self.modify(&mut |vars| {
            vars.set(PV_TRY, rev);
            vars.unset(PV_TRYING);
        })
    }

    /// Make `rev` the committed revision: `pv_rev = rev`, `pv_try` cleared,
    /// in one replace of the file.
    fn commit(&self, rev: &str) -> Result<(), BootError> {
        self.modify(&mut |vars| {
            vars.set(PV_REV, rev);
            vars.unset(PV_TRY);
            vars.unset(PV_TRYING);
        })
    }

    /// Give up the try: `pv_try` cleared.
    fn fail(&self) -> Result<(), BootError> {
        self.modify(&mut |vars| {
            vars.unset(PV_TRY);
            vars.unset(PV_TRYING);
        })
    }

    /// Play the bootloader (appengine wrapper, tests): apply
    /// [`select_boot`], persist the env it leaves, return the revision to
    /// boot.
    fn boot(&self) -> Result<String, BootError> {
        let vars = self.read()?;
        let (rev, next) = select_boot(&vars);
        if next != vars {
            self.write(&next)?;
        }
        Ok(rev)
    }

    /// Read, apply `change`, and write back if anything changed.
    fn modify(&self, change: &mut dyn FnMut(&mut EnvVars)) -> Result<(), BootError> {
        let vars = self.read()?;
        let mut next = vars.clone();
        change(&mut next);
        if next != vars {
            self.write(&next)?;
        }
        Ok(())
    }
}

/// Overwrite the regular file `path` with `bytes` in place (one write at
/// offset 0, then fsync) when it exists with exactly that size; false when
/// it does not (missing, another size or not a regular file).
fn overwrite_in_place(path: &Path, bytes: &[u8]) -> Result<bool, BootError> {
    use std::os::unix::fs::FileExt;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(pv_fs::FsError::new("stat", path, e).into()),
    };
    if !meta.is_file() || meta.len() != bytes.len() as u64 {
        return Ok(false);
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .at("open", path)?;
    let label = pv_fs::fault::label(path);
    pv_fs::fault::point(&format!("write:{label}:before-write"));
    file.write_all_at(bytes, 0).at("write", path)?;
    pv_fs::fault::point(&format!("write:{label}:before-sync"));
    file.sync_all().at("fsync", path)?;
    pv_fs::fault::point(&format!("write:{label}:done"));
    Ok(true)
}

/// The on-disk format of a boot env.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvFormat {
    /// NUL-separated `boot/uboot.txt`.
    UbootNul,
    /// `key=value` lines.
    UbootText,
    /// `boot/grubenv`.
    Grub,
}

impl EnvFormat {
    /// The format `PV_BOOTLOADER_TYPE` uses, for the types this crate
    /// handles (`uboot`, `uboot-pvk`, `grub`; not `uboot-ab`, `rpiab`).
    pub fn for_bootloader(name: &str) -> Option<EnvFormat> {
        match name {
            "uboot" | "uboot-pvk" => Some(EnvFormat::UbootNul),
            "grub" => Some(EnvFormat::Grub),
            _ => None,
        }
    }

    /// The backend for this format under the storage root
    /// (`boot/uboot.txt` for both U-Boot formats, `boot/grubenv`).
    pub fn open(self, storage: &Path) -> Box<dyn BootEnv + Send + Sync> {
        match self {
            EnvFormat::UbootNul => Box::new(UbootEnv::in_storage(storage)),
            EnvFormat::UbootText => {
                Box::new(UbootTextEnv::new(storage.join("boot").join("uboot.txt")))
            }
            EnvFormat::Grub => Box::new(GrubEnv::in_storage(storage)),
        }
    }
}

/// `syncfs` of the filesystem holding the env file `env` (its directory,
/// when it exists; a missing one is created by the first write).
fn sync_for_bootloader(env: &Path) -> Result<(), BootError> {
    let dir = env
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if dir.is_dir() {
        pv_fs::syncfs(dir)?;
    }
    Ok(())
}
