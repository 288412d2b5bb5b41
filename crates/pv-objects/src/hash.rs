use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use pv_fs::{FsError, IoResultExt};
use pv_types::ObjectId;
use sha2::{Digest, Sha256};

const BUF: usize = 1 << 20;

thread_local! {
    /// One read buffer per thread, reused: zeroing a fresh 1 MiB buffer for
    /// each of thousands of small files costs more than hashing them.
    static READ_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// sha256 of everything read from `r`.
pub fn hash_reader(mut r: impl Read) -> io::Result<ObjectId> {
    READ_BUF.with(|cell| {
        let mut own;
        let mut borrowed = cell.try_borrow_mut();
        let buf: &mut Vec<u8> = match borrowed.as_deref_mut() {
            Ok(b) => b,
            Err(_) => {
                own = Vec::new();
                &mut own
            }
        };
        if buf.len() < BUF {
            buf.resize(BUF, 0);
        }
        let mut h = Sha256::new();
        loop {
            let n = match r.read(buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            h.update(&buf[..n]);
        }
        Ok(ObjectId::from_bytes(h.finalize().into()))
    })
}

/// sha256 of a file's content (symlinks are followed).
pub fn hash_file(path: &Path) -> Result<ObjectId, FsError> {
    let f = File::open(path).at("open", path)?;
    hash_reader(f).at("read", path)
}

/// A writer that hashes what goes through it.
#[derive(Debug)]
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    /// The digest of everything written and the inner writer.
    pub fn finish(self) -> (ObjectId, u64, W) {
        (
            ObjectId::from_bytes(self.hasher.finalize().into()),
            self.written,
            self.inner,
        )
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
