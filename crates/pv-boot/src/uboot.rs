//! `boot/uboot.txt`: the binary U-Boot environment that U-Boot reads with
//! `env import` and the appengine wrapper reads with `cat`.
//!
//! Layout: `key=value` records each ended by a NUL, then one more NUL (the
//! double-NUL terminator), then zero padding. Readers look at the first
//! 1 KiB only; the writer pads the file to 64 KiB, as the original does.

use std::path::{Path, PathBuf};

use crate::error::FormatError;
use crate::vars::EnvVars;
use crate::BootEnv;

/// Bytes of the file that hold variables (what the readers look at).
pub const UBOOT_READ_WINDOW: usize = 1024;
/// Size of the file as written (zero padded).
pub const UBOOT_FILE_SIZE: usize = 64 * 1024;

/// Decode a NUL-separated env. An empty file is an empty env; otherwise a
/// double-NUL terminator must appear within [`UBOOT_READ_WINDOW`] bytes
/// and every record must hold a `=`. A name set twice keeps the last value.
pub fn decode_nul(bytes: &[u8]) -> Result<EnvVars, FormatError> {
    let window = &bytes[..bytes.len().min(UBOOT_READ_WINDOW)];
    let mut vars = EnvVars::new();
    if window.is_empty() {
        return Ok(vars);
    }
    let mut pos = 0;
    loop {
        match window.get(pos) {
            None => return Err(FormatError::NoTerminator(UBOOT_READ_WINDOW)),
            Some(0) => return Ok(vars),
            Some(_) => {}
        }
        let Some(len) = window[pos..].iter().position(|b| *b == 0) else {
            return Err(FormatError::NoTerminator(UBOOT_READ_WINDOW));
        };
        let record = &window[pos..pos + len];
        let text = std::str::from_utf8(record)
            .map_err(|_| FormatError::NotUtf8(String::from_utf8_lossy(record).into_owned()))?;
        match text.split_once('=') {
            Some((k, v)) if !k.is_empty() => vars.set(k, v),
            _ => return Err(FormatError::NoEquals(text.to_string())),
        }
        pos += len + 1;
    }
}

/// Encode `vars` as records, double-NUL terminator and zero padding to
/// [`UBOOT_FILE_SIZE`]. The records and terminator must fit in
/// [`UBOOT_READ_WINDOW`] bytes.
pub fn encode_nul(vars: &EnvVars) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::with_capacity(UBOOT_FILE_SIZE);
    for (k, v) in vars.write_order() {
        if k.is_empty() || k.contains(['=', '\0']) {
            return Err(FormatError::BadName(k.to_string()));
        }
        if v.contains('\0') {
            return Err(FormatError::BadValue(k.to_string()));
        }
        out.extend_from_slice(k.as_bytes());
        out.push(b'=');
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out.push(0);
    if out.len() > UBOOT_READ_WINDOW {
        return Err(FormatError::TooLarge {
            need: out.len(),
            max: UBOOT_READ_WINDOW,
        });
    }
    out.resize(UBOOT_FILE_SIZE, 0);
    Ok(out)
}

/// The NUL-separated env file (`uboot`, `uboot-pvk` and appengine).
#[derive(Debug, Clone)]
pub struct UbootEnv {
    path: PathBuf,
}

impl UbootEnv {
    /// The env at `path`.
    pub fn new(path: impl Into<PathBuf>) -> UbootEnv {
        UbootEnv { path: path.into() }
    }

    /// `<storage>/boot/uboot.txt`.
    pub fn in_storage(storage: &Path) -> UbootEnv {
        UbootEnv::new(storage.join("boot").join("uboot.txt"))
    }
}

impl BootEnv for UbootEnv {
    fn path(&self) -> &Path {
        &self.path
    }

    fn decode(&self, bytes: &[u8]) -> Result<EnvVars, FormatError> {
        decode_nul(bytes)
    }

    fn encode(&self, vars: &EnvVars) -> Result<Vec<u8>, FormatError> {
        encode_nul(vars)
    }

    fn file_mode(&self) -> u32 {
        0o600
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_wrapper_writes() {
        let v = decode_nul(b"pv_rev=0\0\0").unwrap();
        assert_eq!(v, EnvVars::from_pairs([("pv_rev", "0")]));
        assert_eq!(decode_nul(b"").unwrap(), EnvVars::new());
        assert_eq!(decode_nul(b"\0\0\0").unwrap(), EnvVars::new());
        let v = decode_nul(b"a=1\0b=x=y\0a=2\0\0garbage after").unwrap();
        assert_eq!(v, EnvVars::from_pairs([("a", "2"), ("b", "x=y")]));
    }

    #[test]
    fn exact_layout() {
        let vars = EnvVars::from_pairs([("pv_try", "5"), ("pv_rev", "4"), ("other", "")]);
        let bytes = encode_nul(&vars).unwrap();
        assert_eq!(bytes.len(), UBOOT_FILE_SIZE);
        let head = b"pv_rev=4\0pv_try=5\0other=\0\0";
        assert_eq!(&bytes[..head.len()], head);
        assert!(bytes[head.len()..].iter().all(|b| *b == 0));
        assert_eq!(
            decode_nul(&bytes).unwrap(),
            EnvVars::from_pairs([("pv_rev", "4"), ("pv_try", "5"), ("other", "")])
        );
        assert_eq!(encode_nul(&EnvVars::new()).unwrap()[..2], [0, 0]);
    }

    #[test]
    fn corrupt_inputs() {
        assert_eq!(
            decode_nul(b"pv_rev=0"),
            Err(FormatError::NoTerminator(1024))
        );
        assert_eq!(
            decode_nul(b"pv_rev=0\0"),
            Err(FormatError::NoTerminator(1024))
        );
        assert_eq!(
            decode_nul(b"pv_rev\0\0"),
            Err(FormatError::NoEquals("pv_rev".into()))
        );
        assert_eq!(
            decode_nul(b"=1\0\0"),
            Err(FormatError::NoEquals("=1".into()))
        );
        let mut big = vec![b'a'; 2000];
        big[1] = b'=';
        big.extend_from_slice(b"\0\0");
        assert_eq!(decode_nul(&big), Err(FormatError::NoTerminator(1024)));
        assert!(matches!(
            decode_nul(b"a=\xff\0\0"),
            Err(FormatError::NotUtf8(_))
        ));
    }

    #[test]
    fn refuses_what_cannot_be_stored() {
        let big = EnvVars::from_pairs([("k", "v".repeat(1022))]);
        assert_eq!(
            encode_nul(&big),
            Err(FormatError::TooLarge {
                need: 1026,
                max: 1024
            })
        );
        let fits = EnvVars::from_pairs([("k", "v".repeat(1020))]);
        assert!(encode_nul(&fits).is_ok());
        assert!(matches!(
            encode_nul(&EnvVars::from_pairs([("a=b", "1")])),
            Err(FormatError::BadName(_))
        ));
        assert!(matches!(
            encode_nul(&EnvVars::from_pairs([("a", "\0")])),
            Err(FormatError::BadValue(_))
        ));
    }
}
