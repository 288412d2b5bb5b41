//! A plain text U-Boot environment (`key=value` lines), for boards whose
//! boot script imports the Pantavisor env with `env import -t`.
//!
//! The original documents no such file for Pantavisor's own variables;
//! this backend is the straightforward text form: one `key=value` per line,
//! `\n` ended. Reading stops at a NUL (as `env import -t` does), skips blank
//! lines and `#` comments, and refuses a line without `=`.

use std::path::{Path, PathBuf};

use crate::error::FormatError;
use crate::vars::EnvVars;
use crate::BootEnv;

/// Decode `key=value` lines.
pub fn decode_text(bytes: &[u8]) -> Result<EnvVars, FormatError> {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    let text = std::str::from_utf8(&bytes[..end])
        .map_err(|_| FormatError::NotUtf8(String::from_utf8_lossy(&bytes[..end]).into_owned()))?;
    let mut vars = EnvVars::new();
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            Some((k, v)) if !k.is_empty() => vars.set(k, v),
            _ => return Err(FormatError::NoEquals(line.to_string())),
        }
    }
    Ok(vars)
}

/// Encode `key=value\n` lines (no padding).
pub fn encode_text(vars: &EnvVars) -> Result<Vec<u8>, FormatError> {
    let mut out = String::new();
    for (k, v) in vars.write_order() {
        if k.is_empty() || k.starts_with('#') || k.contains(['=', '\0', '\n', '\r']) {
            return Err(FormatError::BadName(k.to_string()));
        }
        if v.contains(['\0', '\n', '\r']) {
            return Err(FormatError::BadValue(k.to_string()));
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
        out.push('\n');
    }
    Ok(out.into_bytes())
}

/// The text env file.
#[derive(Debug, Clone)]
pub struct UbootTextEnv {
    path: PathBuf,
}

impl UbootTextEnv {
    /// The env at `path`.
    pub fn new(path: impl Into<PathBuf>) -> UbootTextEnv {
        UbootTextEnv { path: path.into() }
    }
}

impl BootEnv for UbootTextEnv {
    fn path(&self) -> &Path {
        &self.path
    }

    fn decode(&self, bytes: &[u8]) -> Result<EnvVars, FormatError> {
        decode_text(bytes)
    }

    fn encode(&self, vars: &EnvVars) -> Result<Vec<u8>, FormatError> {
        encode_text(vars)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_layout() {
        let vars =
            EnvVars::from_pairs([("pv_try", "locals/x"), ("bootdelay", "3"), ("pv_rev", "7")]);
        let bytes = encode_text(&vars).unwrap();
        assert_eq!(bytes, b"pv_rev=7\npv_try=locals/x\nbootdelay=3\n");
        let back = decode_text(&bytes).unwrap();
        assert_eq!(back.get("pv_try"), Some("locals/x"));
        assert_eq!(back.len(), 3);
    }

    #[test]
    fn lenient_reading_strict_lines() {
        let v = decode_text(b"# comment\r\n\npv_rev=1\r\nx=a=b\n\0pv_try=junk").unwrap();
        assert_eq!(v, EnvVars::from_pairs([("pv_rev", "1"), ("x", "a=b")]));
        assert_eq!(
            decode_text(b"pv_rev 1\n"),
            Err(FormatError::NoEquals("pv_rev 1".into()))
        );
        assert!(matches!(
            encode_text(&EnvVars::from_pairs([("a", "x\ny")])),
            Err(FormatError::BadValue(_))
        ));
    }
}
