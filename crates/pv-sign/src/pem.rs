//! A lenient PEM reader in the spirit of Go's `encoding/pem`: text around
//! blocks is skipped, `Key: value` header lines are recorded, malformed
//! blocks are passed over.

use crate::encoding::b64std_decode;

/// One decoded PEM block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemBlock {
    /// The word(s) after `BEGIN`, e.g. `PRIVATE KEY`, `RSA PUBLIC KEY`.
    pub label: String,
    /// True if the block carried RFC 1421 headers (`Proc-Type: …`).
    pub has_headers: bool,
    /// The base64-decoded body.
    pub der: Vec<u8>,
}

/// All well-formed blocks of `data`, in order.
pub fn parse_all(data: &[u8]) -> Vec<PemBlock> {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(label) = begin_label(lines[i]) else {
            i += 1;
            continue;
        };
        let end_line = format!("-----END {label}-----");
        let Some(end) = (i + 1..lines.len()).find(|&j| lines[j].trim_end() == end_line) else {
            i += 1;
            continue;
        };
        let body = &lines[i + 1..end];
        let mut has_headers = false;
        let mut start = 0;
        if body.first().is_some_and(|l| l.contains(':')) {
            has_headers = true;
            start = body
                .iter()
                .position(|l| l.trim().is_empty())
                .map_or(body.len(), |p| p + 1);
        }
        let b64: String = body[start..]
            .iter()
            .flat_map(|l| l.chars())
            .filter(|c| !c.is_whitespace())
            .collect();
        match b64std_decode(&b64) {
            Some(der) => {
                blocks.push(PemBlock {
                    label: label.to_string(),
                    has_headers,
                    der,
                });
                i = end + 1;
            }
            None => i += 1,
        }
    }
    blocks
}

fn begin_label(line: &str) -> Option<&str> {
    line.trim_end()
        .strip_prefix("-----BEGIN ")?
        .strip_suffix("-----")
}

/// Encode DER as a PEM block with 64-column lines.
#[cfg(test)]
pub fn encode(label: &str, der: &[u8]) -> String {
    let b64 = crate::encoding::b64std(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_headers_and_junk() {
        let text = "junk\n-----BEGIN A B-----\nAAEC\n-----END A B-----\n\
                    -----BEGIN C-----\nProc-Type: 4,ENCRYPTED\n\nAwQ=\n-----END C-----\n\
                    -----BEGIN BAD-----\n!!\n-----END BAD-----\n";
        let b = parse_all(text.as_bytes());
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].label, "A B");
        assert_eq!(b[0].der, [0, 1, 2]);
        assert!(b[1].has_headers);
        assert_eq!(b[1].der, [3, 4]);
        assert_eq!(parse_all(encode("X", &[9; 70]).as_bytes())[0].der, [9; 70]);
    }
}
