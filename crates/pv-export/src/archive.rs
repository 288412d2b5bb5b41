//! Export tarballs: `json` plus `objects/<sha256>`, nothing else.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use pv_fs::IoResultExt;
use pv_objects::ObjectStore;
use pv_types::{ObjectId, State};

use crate::{Error, Result};

/// What an export tarball held.
#[derive(Debug)]
pub struct ExportContent {
    pub state: State,
    /// Objects that were not in the pool before.
    pub written: BTreeSet<ObjectId>,
}

/// Read an export: objects are verified into `pool` as they stream by;
/// only `json` and `objects/<sha>` regular files are accepted. Fails if the
/// state is invalid or references an object that is neither in the archive
/// nor already in the pool (a truncated export).
pub fn read_export(file: &Path, pool: &ObjectStore) -> Result<ExportContent> {
    let bad = |msg: String| Error::BadArchive {
        path: file.to_path_buf(),
        msg,
    };
    let reader = open_maybe_gzip(file)?;
    let mut ar = tar::Archive::new(reader);
    let mut state = None;
    let mut written = BTreeSet::new();
    // objects are made durable together once the archive is read
    let batch = pool.batch();
    let entries = ar.entries().map_err(|e| bad(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("truncated or corrupt archive: {e}")))?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = name.trim_start_matches("./").to_string();
        let kind = entry.header().entry_type();
        if kind.is_dir() && (name == "objects" || name == "objects/" || name.is_empty()) {
            continue;
        }
        if !kind.is_file() {
            return Err(bad(format!("member {name:?} is not a regular file")));
        }
        if name == "json" {
            let mut b = vec![];
            entry
                .read_to_end(&mut b)
                .map_err(|e| bad(format!("member json: {e}")))?;
            let s = State::from_slice(&b).map_err(|e| bad(format!("member json: {e}")))?;
            state = Some(s);
        } else if let Some(sha) = name.strip_prefix("objects/") {
            let id: ObjectId = sha
                .parse()
                .map_err(|_| bad(format!("member {name:?} is not objects/<sha256>")))?;
            if pool.contains(&id) || written.contains(&id) {
                continue;
            }
            let what = file.join(&name);
            batch.put_reader(&mut entry, Some(&id), &what)?;
            written.insert(id);
        } else {
            return Err(bad(format!(
                "unexpected member {name:?} (only json and objects/<sha256>)"
            )));
        }
    }
    batch.publish()?;
    let state = state.ok_or_else(|| bad("no json member".into()))?;
    state
        .validate_structure()
        .map_err(|report| Error::InvalidState {
            what: file.display().to_string(),
            report,
        })?;
    for id in state.object_ids() {
        if !pool.contains(&id) {
            return Err(bad(format!(
                "object {id} is referenced by json but missing (truncated export?)"
            )));
        }
    }
    Ok(ExportContent { state, written })
}

/// Open a possibly gzip-compressed file (detected by content).
pub fn open_maybe_gzip(path: &Path) -> Result<Box<dyn Read>> {
    let mut f = File::open(path).at("open", path)?;
    let mut magic = [0u8; 2];
    let n = f.read(&mut magic).at("read", path)?;
    drop(f);
    let f = File::open(path).at("open", path)?;
    if n == 2 && magic == [0x1f, 0x8b] {
        Ok(Box::new(flate2::read::GzDecoder::new(io::BufReader::new(
            f,
        ))))
    } else {
        Ok(Box::new(io::BufReader::new(f)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha256_hex(data: &[u8]) -> String {
        pv_objects::hash_reader(data).unwrap().to_string()
    }

    /// Tar members: name and content.
    type Members<'a> = &'a [(&'a str, &'a [u8])];

    fn tar_of(members: Members<'_>, gzip: bool) -> Vec<u8> {
        let mut b = tar::Builder::new(vec![]);
        for (name, data) in members {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        let raw = b.into_inner().unwrap();
        if !gzip {
            return raw;
        }
        let mut gz = flate2::write::GzEncoder::new(vec![], flate2::Compression::fast());
        io::Write::write_all(&mut gz, &raw).unwrap();
        gz.finish().unwrap()
    }

    fn read(archive: &[u8]) -> (tempfile::TempDir, Result<ExportContent>) {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("x.tgz");
        std::fs::write(&file, archive).unwrap();
        let pool = ObjectStore::open(d.path().join("pool")).unwrap();
        let r = read_export(&file, &pool);
        (d, r)
    }

    #[test]
    fn reads_state_and_verifies_objects_plain_or_gzip() {
        let obj = b"payload";
        let sha = sha256_hex(obj);
        let json = format!(r##"{{"#spec":"pantavisor-service-system@1","a/f":"{sha}"}}"##);
        for gzip in [false, true] {
            let name = format!("objects/{sha}");
            let ar = tar_of(&[("json", json.as_bytes()), (&name, obj)], gzip);
            let (d, r) = read(&ar);
            let c = r.unwrap();
            assert_eq!(c.written.len(), 1);
            assert_eq!(
                std::fs::read(d.path().join("pool").join(&sha)).unwrap(),
                obj
            );
            assert_eq!(c.state.object_ids().len(), 1);
        }
    }

    #[test]
    fn refuses_what_is_not_json_or_an_object() {
        let json: &[u8] = br##"{"#spec":"pantavisor-service-system@1"}"##;
        let cases: [(Members<'_>, &str); 4] = [
            (&[("json", json), ("etc/passwd", b"x")], "unexpected member"),
            (
                &[("json", json), ("objects/nothex", b"x")],
                "objects/<sha256>",
            ),
            (&[], "no json member"),
            (&[("json", b"[1]")], "member json"),
        ];
        for (members, needle) in cases {
            let err = read(&tar_of(members, true)).1.unwrap_err().to_string();
            assert!(err.contains(needle), "{err} lacks {needle}");
        }
    }

    #[test]
    fn refuses_wrong_object_content_and_missing_objects() {
        let sha = sha256_hex(b"right");
        let json = format!(r##"{{"#spec":"pantavisor-service-system@1","a/f":"{sha}"}}"##);
        let name = format!("objects/{sha}");
        let wrong = tar_of(&[("json", json.as_bytes()), (&name, b"wrong")], true);
        let (d, r) = read(&wrong);
        assert!(r.is_err());
        assert!(!d.path().join("pool").join(&sha).exists());
        let missing = tar_of(&[("json", json.as_bytes())], true);
        let err = read(&missing).1.unwrap_err().to_string();
        assert!(err.contains("missing"), "{err}");
    }

    #[test]
    fn refuses_links() {
        let mut b = tar::Builder::new(vec![]);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "json", "/etc/passwd").unwrap();
        let err = read(&b.into_inner().unwrap()).1.unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }
}
