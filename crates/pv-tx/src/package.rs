//! Packages: a state JSON, or a tarball (plain, gzip or bzip2, told apart
//! by their first bytes) holding exactly a `json` state and
//! `objects/<sha256>` files, as `pvr export` writes them.
//!
//! Objects are handed to an [`ObjectSink`] as they stream by; the sink
//! checks that each hashes to its name before it keeps it. Nothing else
//! is accepted: links, devices, other names (`../x`, `/etc/x`,
//! `objects/../x`) are refused with the name in the message.

use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use pv_types::{ObjectId, State};

use crate::{Result, TxError};

/// Where the objects of a package go.
pub trait ObjectSink {
    /// Keep the object `id` read from `r` (`size` bytes); fail if the
    /// bytes do not hash to `id`. The object may only become visible once
    /// [`ObjectSink::finish`] succeeds.
    fn put(&mut self, id: &ObjectId, size: u64, r: &mut dyn Read) -> Result<()>;
    /// Make what was put durable.
    fn finish(&mut self) -> Result<()>;
}

/// Largest state JSON accepted (a package's `json`, a JSON package).
pub const MAX_STATE: u64 = 16 << 20;

/// Read a whole state JSON from `r`, refusing more than [`MAX_STATE`].
fn read_state_bytes(r: impl Read, what: &str) -> Result<Vec<u8>> {
    let mut b = vec![];
    r.take(MAX_STATE + 1)
        .read_to_end(&mut b)
        .map_err(|e| TxError::bad(format!("reading {what}: {e}")))?;
    if b.len() as u64 > MAX_STATE {
        return Err(TxError::bad(format!(
            "{what}: a state JSON of more than {MAX_STATE} bytes"
        )));
    }
    Ok(b)
}

/// What a package held.
#[derive(Debug)]
pub struct Package {
    pub state: State,
    /// The objects it carried.
    pub objects: Vec<ObjectId>,
}

/// How the bytes of a package are packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Tar,
    Gzip,
    Bzip2,
}

/// Tell the format from the first bytes (up to 512).
pub fn sniff(head: &[u8]) -> Option<Format> {
    if head.starts_with(&[0x1f, 0x8b]) {
        return Some(Format::Gzip);
    }
    if head.starts_with(b"BZh") {
        return Some(Format::Bzip2);
    }
    if head.len() >= 262 && &head[257..262] == b"ustar" {
        return Some(Format::Tar);
    }
    match head.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Some(Format::Json),
        _ => None,
    }
}

/// Parse and check a package's state: a JSON object that is a valid
/// state (known `#spec`, keys that are relative paths, values that are
/// object ids or inline JSON).
pub fn parse_state(bytes: &[u8], what: &str) -> Result<State> {
    let state = State::from_slice(bytes)
        .map_err(|e| TxError::bad(format!("{what} is not a state JSON: {e}")))?;
    state
        .validate_structure()
        .map_err(|r| TxError::bad(format!("{what} is not a valid state: {r}")))?;
    Ok(state)
}

/// Read a package from `r` (`what` names it in messages); `buf` is the
/// read buffer size.
pub fn read(r: impl Read, what: &str, buf: usize, sink: &mut dyn ObjectSink) -> Result<Package> {
    let mut r = BufReader::with_capacity(buf.max(512), r);
    let head = peek(&mut r, 512).map_err(|e| TxError::bad(format!("reading {what}: {e}")))?;
    let format = sniff(&head).ok_or_else(|| {
        TxError::bad(format!(
            "{what}: unknown package format (want a state JSON, .tar, .tar.gz/.tgz or .tar.bz2)"
        ))
    })?;
    let r = io::Cursor::new(head).chain(r);
    match format {
        Format::Json => {
            let bytes = read_state_bytes(r, what)?;
            let state = parse_state(&bytes, what)?;
            Ok(Package {
                state,
                objects: vec![],
            })
        }
        Format::Tar => read_tar(r, what, sink),
        Format::Gzip => read_tar(flate2::read::GzDecoder::new(r), what, sink),
        Format::Bzip2 => read_tar(bzip2::read::BzDecoder::new(r), what, sink),
    }
}

/// Read a package file.
pub fn read_file(path: &Path, buf: usize, sink: &mut dyn ObjectSink) -> Result<Package> {
    let f = std::fs::File::open(path).map_err(|e| pv_fs::FsError::new("open", path, e))?;
    read(f, &path.display().to_string(), buf, sink)
}

/// Up to `n` first bytes, without losing them.
fn peek(r: &mut impl BufRead, n: usize) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(n);
    while head.len() < n {
        let got = r.fill_buf()?;
        if got.is_empty() {
            break;
        }
        let take = got.len().min(n - head.len());
        head.extend_from_slice(&got[..take]);
        r.consume(take);
    }
    Ok(head)
}

fn read_tar(r: impl Read, what: &str, sink: &mut dyn ObjectSink) -> Result<Package> {
    let bad = |msg: String| TxError::bad(format!("{what}: {msg}"));
    let mut ar = tar::Archive::new(r);
    let mut state = None;
    let mut objects = vec![];
    let entries = ar
        .entries()
        .map_err(|e| bad(format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("truncated or corrupt archive: {e}")))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = raw.strip_prefix("./").unwrap_or(&raw).to_string();
        let kind = entry.header().entry_type();
        if kind.is_dir() && matches!(name.as_str(), "" | "objects" | "objects/") {
            continue;
        }
        if !kind.is_file() {
            return Err(bad(format!("member {raw:?} is not a regular file")));
        }
        if name == "json" {
            let member = format!("{what}: member json");
            let b = read_state_bytes(&mut entry, &member)?;
            state = Some(parse_state(&b, &member)?);
        } else if let Some(sha) = name.strip_prefix("objects/") {
            let id: ObjectId = sha
                .parse()
                .ok()
                .filter(|_| pv_types::is_sha(sha))
                .ok_or_else(|| bad(format!("member {raw:?} is not objects/<sha256>")))?;
            let size = entry.header().size().unwrap_or(0);
            sink.put(&id, size, &mut entry)
                .map_err(|e| bad(format!("object {id}: {e}")))?;
            objects.push(id);
        } else {
            return Err(bad(format!(
                "unexpected member {raw:?} (a package holds only json and objects/<sha256>)"
            )));
        }
    }
    let state = state.ok_or_else(|| bad("no json member".into()))?;
    sink.finish()?;
    Ok(Package { state, objects })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Keeps objects in memory, checking their hash.
    #[derive(Default)]
    pub struct MemSink {
        pub pending: BTreeMap<ObjectId, Vec<u8>>,
        pub kept: BTreeMap<ObjectId, Vec<u8>>,
    }

    impl ObjectSink for MemSink {
        fn put(&mut self, id: &ObjectId, _size: u64, r: &mut dyn Read) -> Result<()> {
            let mut b = vec![];
            r.read_to_end(&mut b).unwrap();
            if ObjectId::of(&b) != *id {
                return Err(TxError::bad("content does not match its name"));
            }
            self.pending.insert(*id, b);
            Ok(())
        }
        fn finish(&mut self) -> Result<()> {
            self.kept.append(&mut self.pending);
            Ok(())
        }
    }

    pub fn tar_of(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(vec![]);
        for (name, data) in members {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            // names as given, even bad ones (set_path would refuse `..`)
            h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn gz(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(vec![], flate2::Compression::fast());
        io::Write::write_all(&mut e, b).unwrap();
        e.finish().unwrap()
    }

    fn bz(b: &[u8]) -> Vec<u8> {
        let mut e = bzip2::write::BzEncoder::new(vec![], bzip2::Compression::fast());
        io::Write::write_all(&mut e, b).unwrap();
        e.finish().unwrap()
    }

    const JSON: &[u8] = br##"{"#spec":"pantavisor-service-system@1","a/run.json":{"x":1}}"##;

    #[test]
    fn every_format_is_read() {
        let obj = b"object";
        let id = ObjectId::of(obj);
        let name = format!("objects/{id}");
        let plain = tar_of(&[("json", JSON), (&name, obj)]);
        for (bytes, objects) in [
            (plain.clone(), 1),
            (gz(&plain), 1),
            (bz(&plain), 1),
            (JSON.to_vec(), 0),
        ] {
            let mut sink = MemSink::default();
            let p = read(&bytes[..], "pkg", 512, &mut sink).unwrap();
            assert_eq!(p.objects.len(), objects);
            assert_eq!(sink.kept.len(), objects);
            assert!(p.state.contains_key("a/run.json"));
        }
    }

    #[test]
    fn a_state_too_large_is_refused_before_it_is_read_whole() {
        let mut big = b"{".to_vec();
        big.resize(MAX_STATE as usize + 2, b' ');
        let mut sink = MemSink::default();
        let err = read(&big[..], "pkg", 512, &mut sink)
            .unwrap_err()
            .to_string();
        assert!(err.contains("more than"), "{err}");
    }

    #[test]
    fn bad_packages_are_refused_and_nothing_is_kept() {
        let id = ObjectId::of(b"right");
        let obj = format!("objects/{id}");
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                tar_of(&[("json", JSON), ("../etc/passwd", b"x")]),
                "unexpected member",
            ),
            (
                tar_of(&[("json", JSON), ("objects/../../x", b"x")]),
                "objects/<sha256>",
            ),
            (tar_of(&[("json", JSON), (&obj, b"wrong")]), "match"),
            (tar_of(&[(&obj, b"right")]), "no json member"),
            (tar_of(&[("json", b"[1,2]")]), "not a state JSON"),
            (
                tar_of(&[(
                    "json",
                    br##"{"#spec":"pantavisor-service-system@1","../x":"y"}"##,
                )]),
                "not a valid state",
            ),
            (b"[]".to_vec(), "unknown package format"),
            (br#"{"a":1}"#.to_vec(), "not a valid state"),
            (gz(b"garbage that is not a tar"), "pkg"),
        ];
        for (bytes, needle) in cases {
            let mut sink = MemSink::default();
            let err = read(&bytes[..], "pkg", 512, &mut sink)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{err} lacks {needle}");
            assert!(sink.kept.is_empty());
        }
    }
}
