//! The copy: the image's stream is cut into blocks; a block of zeros is
//! not written as data. On a file target it becomes a hole (the file is
//! truncated first, so holes read as zeros); on a block device, runs of
//! zeros are zeroed by the device (`fallocate(ZERO_RANGE)`, which becomes
//! a write-zeroes or discard request; plain zeros when the device cannot),
//! so the result is exact whatever the device held before. Then the data
//! is flushed, the page cache of the range dropped, and the target read
//! back and compared by sha256 with what was written.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::Ordering;

use indicatif::{ProgressBar, ProgressStyle};
use rustix::fs::{Advice, FallocateFlags};
use sha2::{Digest, Sha256};

use crate::source::{self, Format};
use crate::target::{self, Kind};
use crate::{io, Error, Result};

/// Blocks of this size that are all zeros are skipped.
pub const BLOCK: usize = 64 * 1024;

/// What a flash did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlashReport {
    pub format: Format,
    /// Bytes of the image (decompressed).
    pub bytes: u64,
    /// Bytes written as data.
    pub written: u64,
    /// Bytes of zero blocks that were not written as data.
    pub skipped: u64,
    pub sha256: String,
    pub verified: bool,
}

/// Write `image` to `target` (block device or file); `verify` reads it
/// back; `progress` draws a bar on stderr.
pub fn flash(
    image: &Path,
    target_path: &Path,
    verify: bool,
    progress: bool,
) -> Result<FlashReport> {
    target::check_not_in_use(target_path)?;
    let kind = target::kind(target_path)?;
    let mut src = source::open(image)?;
    let out = match kind {
        Kind::File => OpenOptions::new()
            .write(true)
            .read(true)
            .create(true)
            .truncate(true)
            .open(target_path),
        Kind::Block { .. } => OpenOptions::new().write(true).read(true).open(target_path),
    }
    .map_err(io("open", target_path))?;
    let bar = if progress {
        let b = ProgressBar::new(src.file_len);
        b.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap()
            .progress_chars("=> "),
        );
        b.set_message("writing");
        b
    } else {
        ProgressBar::hidden()
    };

    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 16 * BLOCK];
    let (mut pos, mut written, mut skipped) = (0u64, 0u64, 0u64);
    let mut zero_run: Option<(u64, u64)> = None;
    loop {
        let n = fill(&mut src.reader, &mut buf).map_err(io("read", image))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        if let Kind::Block { size } = kind {
            if pos + n as u64 > size {
                return Err(Error::TooSmall {
                    path: target_path.to_path_buf(),
                    have: size,
                    need: pos + n as u64,
                });
            }
        }
        for block in buf[..n].chunks(BLOCK) {
            let len = block.len() as u64;
            if block.iter().all(|b| *b == 0) {
                zero_run = Some(match zero_run {
                    Some((start, l)) => (start, l + len),
                    None => (pos, len),
                });
                skipped += len;
            } else {
                if let Some((start, l)) = zero_run.take() {
                    zero(&out, kind, start, l, target_path)?;
                }
                out.write_all_at(block, pos)
                    .map_err(io("write", target_path))?;
                written += len;
            }
            pos += len;
        }
        bar.set_position(src.consumed.load(Ordering::Relaxed));
    }
    if let Some((start, l)) = zero_run.take() {
        zero(&out, kind, start, l, target_path)?;
    }
    if kind == Kind::File {
        out.set_len(pos).map_err(io("resize", target_path))?;
    }
    out.sync_all().map_err(io("fsync", target_path))?;
    bar.finish_and_clear();
    let sha256 = hex::encode(hasher.finalize());
    if verify {
        let read = read_back(&out, pos, target_path, progress)?;
        if read != sha256 {
            return Err(Error::Verify {
                path: target_path.to_path_buf(),
                wrote: sha256,
                read,
            });
        }
    }
    Ok(FlashReport {
        format: src.format,
        bytes: pos,
        written,
        skipped,
        sha256,
        verified: verify,
    })
}

/// Read until `buf` is full or the stream ends.
fn fill(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Make `[start, start+len)` read as zeros.
fn zero(out: &File, kind: Kind, start: u64, len: u64, path: &Path) -> Result<()> {
    if kind == Kind::File {
        return Ok(()); // a hole of a freshly truncated file
    }
    if rustix::fs::fallocate(
        out,
        FallocateFlags::ZERO_RANGE | FallocateFlags::KEEP_SIZE,
        start,
        len,
    )
    .is_ok()
    {
        return Ok(());
    }
    let zeros = vec![0u8; BLOCK];
    let mut off = start;
    while off < start + len {
        let k = (start + len - off).min(BLOCK as u64) as usize;
        out.write_all_at(&zeros[..k], off)
            .map_err(io("write", path))?;
        off += k as u64;
    }
    Ok(())
}

/// sha256 of the first `len` bytes of the target, as the device has them
/// (the page cache of the range is dropped first).
fn read_back(out: &File, len: u64, path: &Path, progress: bool) -> Result<String> {
    let _ = rustix::fs::fadvise(out, 0, std::num::NonZeroU64::new(len), Advice::DontNeed);
    let bar = if progress {
        let b = ProgressBar::new(len);
        b.set_style(
            ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec}")
                .unwrap()
                .progress_chars("=> "),
        );
        b.set_message("verifying");
        b
    } else {
        ProgressBar::hidden()
    };
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 16 * BLOCK];
    let mut off = 0u64;
    while off < len {
        let k = (len - off).min(buf.len() as u64) as usize;
        out.read_exact_at(&mut buf[..k], off)
            .map_err(io("read back", path))?;
        h.update(&buf[..k]);
        off += k as u64;
        bar.set_position(off);
    }
    bar.finish_and_clear();
    Ok(hex::encode(h.finalize()))
}
