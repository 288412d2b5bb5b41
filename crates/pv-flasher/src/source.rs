//! An image to flash: raw, or compressed with gzip, bzip2 or xz (told by
//! the magic bytes, not the name), read as one stream.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::{io, Result};

/// The compression of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Raw,
    Gzip,
    Bzip2,
    Xz,
}

impl Format {
    /// From the first bytes of a file.
    pub fn sniff(head: &[u8]) -> Format {
        if head.starts_with(&[0x1f, 0x8b]) {
            Format::Gzip
        } else if head.starts_with(b"BZh") {
            Format::Bzip2
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Format::Xz
        } else {
            Format::Raw
        }
    }
}

/// The decompressed stream of an image, and how far into the file it is
/// (for the progress bar).
pub struct Source {
    pub format: Format,
    /// Bytes of the file (compressed size).
    pub file_len: u64,
    /// Bytes of the file consumed so far.
    pub consumed: Arc<AtomicU64>,
    pub reader: Box<dyn Read + Send>,
}

struct Counting<R> {
    inner: R,
    n: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n.fetch_add(k as u64, Ordering::Relaxed);
        Ok(k)
    }
}

/// Open `path`.
pub fn open(path: &Path) -> Result<Source> {
    let mut f = File::open(path).map_err(io("open", path))?;
    let file_len = f.metadata().map_err(io("stat", path))?.len();
    let mut head = [0u8; 6];
    let mut got = 0;
    while got < head.len() {
        match f.read(&mut head[got..]).map_err(io("read", path))? {
            0 => break,
            k => got += k,
        }
    }
    let format = Format::sniff(&head[..got]);
    let f = File::open(path).map_err(io("open", path))?;
    let consumed = Arc::new(AtomicU64::new(0));
    let counted = BufReader::with_capacity(
        1 << 20,
        Counting {
            inner: f,
            n: consumed.clone(),
        },
    );
    let reader: Box<dyn Read + Send> = match format {
        Format::Raw => Box::new(counted),
        Format::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(counted)),
        Format::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(counted)),
        Format::Xz => Box::new(xz2::bufread::XzDecoder::new_multi_decoder(counted)),
    };
    Ok(Source {
        format,
        file_len,
        consumed,
        reader,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic() {
        assert_eq!(Format::sniff(&[0x1f, 0x8b, 8]), Format::Gzip);
        assert_eq!(Format::sniff(b"BZh91AY"), Format::Bzip2);
        assert_eq!(Format::sniff(b"\xfd7zXZ\0"), Format::Xz);
        assert_eq!(Format::sniff(b"\xeb\x63\x90"), Format::Raw);
        assert_eq!(Format::sniff(b""), Format::Raw);
    }
}
