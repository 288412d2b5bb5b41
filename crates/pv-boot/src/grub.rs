//! `boot/grubenv`: a GRUB environment block as `grub-editenv` and GRUB's
//! `load_env`/`save_env` read and write it.
//!
//! Layout: exactly 1024 bytes, the header line `# GRUB Environment Block`,
//! `key=value` lines (in values a backslash escapes the next byte, so `\`
//! and newline are stored as `\\` and `\` + newline), then `#` padding.
//! Other lines starting with `#` are comments (`grub-editenv` adds one).

use std::path::{Path, PathBuf};

use crate::error::FormatError;
use crate::vars::EnvVars;
use crate::BootEnv;

/// Size of the block.
pub const GRUB_BLOCK_SIZE: usize = 1024;
/// First line of the block.
pub const GRUB_HEADER: &[u8] = b"# GRUB Environment Block\n";

/// Decode a GRUB environment block. Lines without `=` are ignored, as GRUB
/// does.
pub fn decode_grubenv(bytes: &[u8]) -> Result<EnvVars, FormatError> {
    if bytes.len() != GRUB_BLOCK_SIZE {
        return Err(FormatError::WrongSize {
            got: bytes.len(),
            want: GRUB_BLOCK_SIZE,
        });
    }
    let body = bytes
        .strip_prefix(GRUB_HEADER)
        .ok_or(FormatError::BadHeader)?;
    let mut vars = EnvVars::new();
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'#' => {
                i = next_line(body, i);
                continue;
            }
            b'\n' => {
                i += 1;
                continue;
            }
            _ => {}
        }
        let line_end = body[i..].iter().position(|b| *b == b'\n').map(|n| i + n);
        let Some(eq) = body[i..line_end.unwrap_or(body.len())]
            .iter()
            .position(|b| *b == b'=')
            .map(|n| i + n)
        else {
            match line_end {
                Some(e) => {
                    i = e + 1;
                    continue;
                }
                None => return Err(unterminated(&body[i..])),
            }
        };
        let mut value = Vec::new();
        let mut j = eq + 1;
        loop {
            match body.get(j) {
                None => return Err(unterminated(&body[i..])),
                Some(b'\\') if j + 1 < body.len() => {
                    value.push(body[j + 1]);
                    j += 2;
                }
                Some(b'\n') => break,
                Some(b) => {
                    value.push(*b);
                    j += 1;
                }
            }
        }
        let name = utf8(&body[i..eq])?;
        let value = utf8(&value)?;
        vars.set(name, value);
        i = j + 1;
    }
    Ok(vars)
}

fn next_line(body: &[u8], from: usize) -> usize {
    body[from..]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(body.len(), |n| from + n + 1)
}

fn unterminated(rest: &[u8]) -> FormatError {
    FormatError::Unterminated(String::from_utf8_lossy(rest).into_owned())
}

fn utf8(bytes: &[u8]) -> Result<String, FormatError> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| FormatError::NotUtf8(String::from_utf8_lossy(bytes).into_owned()))
}

/// Encode a GRUB environment block of exactly [`GRUB_BLOCK_SIZE`] bytes.
pub fn encode_grubenv(vars: &EnvVars) -> Result<Vec<u8>, FormatError> {
    let mut out = GRUB_HEADER.to_vec();
    for (k, v) in vars.write_order() {
        if k.is_empty() || k.starts_with('#') || k.contains(['=', '\0', '\n', '\\']) {
            return Err(FormatError::BadName(k.to_string()));
        }
        if v.contains('\0') {
            return Err(FormatError::BadValue(k.to_string()));
        }
        out.extend_from_slice(k.as_bytes());
        out.push(b'=');
        for b in v.bytes() {
            if b == b'\\' || b == b'\n' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'\n');
    }
    if out.len() > GRUB_BLOCK_SIZE {
        return Err(FormatError::TooLarge {
            need: out.len(),
            max: GRUB_BLOCK_SIZE,
        });
    }
    out.resize(GRUB_BLOCK_SIZE, b'#');
    Ok(out)
}

/// The GRUB environment block backend.
#[derive(Debug, Clone)]
pub struct GrubEnv {
    path: PathBuf,
}

impl GrubEnv {
    /// The block at `path`.
    pub fn new(path: impl Into<PathBuf>) -> GrubEnv {
        GrubEnv { path: path.into() }
    }

    /// `<storage>/boot/grubenv`.
    pub fn in_storage(storage: &Path) -> GrubEnv {
        GrubEnv::new(storage.join("boot").join("grubenv"))
    }
}

impl BootEnv for GrubEnv {
    fn path(&self) -> &Path {
        &self.path
    }

    fn decode(&self, bytes: &[u8]) -> Result<EnvVars, FormatError> {
        decode_grubenv(bytes)
    }

    fn encode(&self, vars: &EnvVars) -> Result<Vec<u8>, FormatError> {
        encode_grubenv(vars)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_layout() {
        let vars = EnvVars::from_pairs([("pv_try", "5"), ("pv_rev", "4")]);
        let bytes = encode_grubenv(&vars).unwrap();
        assert_eq!(bytes.len(), 1024);
        let head = b"# GRUB Environment Block\npv_rev=4\npv_try=5\n";
        assert_eq!(&bytes[..head.len()], head);
        assert!(bytes[head.len()..].iter().all(|b| *b == b'#'));
        let empty = encode_grubenv(&EnvVars::new()).unwrap();
        assert_eq!(&empty[..GRUB_HEADER.len()], GRUB_HEADER);
        assert_eq!(empty.iter().filter(|b| **b == b'#').count(), 1024 - 24);
    }

    #[test]
    fn escapes_round_trip() {
        let vars = EnvVars::from_pairs([("a", "x\\y"), ("b", "line1\nline2"), ("c", "")]);
        let bytes = encode_grubenv(&vars).unwrap();
        assert!(bytes.starts_with(b"# GRUB Environment Block\na=x\\\\y\nb=line1\\\nline2\nc=\n#"));
        assert_eq!(decode_grubenv(&bytes).unwrap(), vars);
    }

    #[test]
    fn comments_and_junk_lines() {
        let mut block =
            b"# GRUB Environment Block\n# WARNING: keep out\nnoequals\npv_rev=2\n".to_vec();
        block.resize(1024, b'#');
        assert_eq!(
            decode_grubenv(&block).unwrap(),
            EnvVars::from_pairs([("pv_rev", "2")])
        );
    }

    #[test]
    fn corrupt_blocks() {
        let good = encode_grubenv(&EnvVars::from_pairs([("pv_rev", "1")])).unwrap();
        assert_eq!(
            decode_grubenv(&good[..1000]),
            Err(FormatError::WrongSize {
                got: 1000,
                want: 1024
            })
        );
        let mut bad = good.clone();
        bad[0] = b'X';
        assert_eq!(decode_grubenv(&bad), Err(FormatError::BadHeader));
        let mut open = GRUB_HEADER.to_vec();
        open.resize(1024, b'a');
        open[30] = b'=';
        assert!(matches!(
            decode_grubenv(&open),
            Err(FormatError::Unterminated(_))
        ));
        let full = EnvVars::from_pairs([("k", "v".repeat(1000))]);
        assert!(matches!(
            encode_grubenv(&full),
            Err(FormatError::TooLarge { .. })
        ));
    }
}
