//! Where `get`, `merge`, `clone`, `deploy` and `inspect` read a state from:
//! a bare repository directory (a checkout's `.pvr`, an unpacked export) or
//! an export tarball. References may carry a `#part1,part2,-part3` fragment.

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::path::Path;

use pv_fs::IoResultExt;
use pv_objects::ObjectStore;
use pv_types::{ObjectId, State};

use crate::config::RepoConfig;
use crate::export::open_maybe_gzip;
use crate::{Error, Result};

/// A reference split into location and parts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RepoRef {
    /// Path or URL without the fragment.
    pub location: String,
    /// Parts to take (`#a,b`).
    pub parts: Vec<String>,
    /// Parts to drop from the target (`#-c`).
    pub drop: Vec<String>,
}

impl RepoRef {
    /// Parse `location[#p1,p2,-p3]`.
    pub fn parse(s: &str) -> Self {
        let (loc, frag) = match s.split_once('#') {
            Some((l, f)) => (l, Some(f)),
            None => (s, None),
        };
        let mut r = RepoRef {
            location: loc.to_string(),
            ..Default::default()
        };
        for p in frag
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            match p.strip_prefix('-') {
                Some(d) => r.drop.push(d.trim_end_matches('/').to_string()),
                None => r.parts.push(p.trim_end_matches('/').to_string()),
            }
        }
        r
    }

    /// True if the location is an http(s) URL.
    pub fn is_remote(&self) -> bool {
        self.location.starts_with("http://") || self.location.starts_with("https://")
    }
}

/// A state read from a local source, with where its objects are.
#[derive(Debug)]
pub struct Loaded {
    pub state: State,
    /// The source's object pool (for bare repositories); for tarballs the
    /// objects have already been verified into the destination pool.
    pub objects: Option<ObjectStore>,
    /// Objects a tarball added to the destination pool.
    pub written: BTreeSet<ObjectId>,
}

/// Read a local source. Tarball objects go straight into `pool` (verified).
pub fn load_local(location: &Path, pool: &ObjectStore) -> Result<Loaded> {
    if location.is_dir() {
        let (state, objects) = read_bare(location)?;
        return Ok(Loaded {
            state,
            objects: Some(objects),
            written: BTreeSet::new(),
        });
    }
    if location.is_file() {
        let c = read_export(location, pool)?;
        return Ok(Loaded {
            state: c.state,
            objects: None,
            written: c.written,
        });
    }
    Err(Error::Other(format!(
        "{}: no such repository or export file",
        location.display()
    )))
}

/// Read a bare repository: `<dir>/json` plus its objects (`<dir>/objects`,
/// or the `ObjectsDir` of `<dir>/config`, relative to `<dir>/..`).
pub fn read_bare(dir: &Path) -> Result<(State, ObjectStore)> {
    let jp = dir.join("json");
    let bytes = fs::read(&jp).at("read", &jp)?;
    let state = State::from_slice(&bytes).map_err(|e| Error::BadRepoFile {
        path: jp.clone(),
        msg: e.to_string(),
    })?;
    let cp = dir.join("config");
    let objects_dir = match fs::read(&cp) {
        Ok(b) => {
            let c = RepoConfig::parse(&cp, &b)?;
            if c.objects_dir.is_empty() {
                dir.join("objects")
            } else {
                c.objects_path(dir.parent().unwrap_or(Path::new(".")))
            }
        }
        Err(_) => dir.join("objects"),
    };
    Ok((state, ObjectStore::open(objects_dir)?))
}

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
            if pool.contains(&id) {
                continue;
            }
            let what = file.join(&name);
            pool.put_reader(&mut entry, Some(&id), &what)?;
            written.insert(id);
        } else {
            return Err(bad(format!(
                "unexpected member {name:?} (only json and objects/<sha256>)"
            )));
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments() {
        let r = RepoRef::parse("../src/.pvr#c,-b");
        assert_eq!(r.location, "../src/.pvr");
        assert_eq!(r.parts, ["c"]);
        assert_eq!(r.drop, ["b"]);
        assert!(RepoRef::parse("http://x:12368/cgi-bin").is_remote());
        assert!(RepoRef::parse("a").parts.is_empty());
    }
}
