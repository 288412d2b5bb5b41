//! Where `get`, `merge`, `clone`, `deploy` and `inspect` read a state from:
//! a bare repository directory (a checkout's `.pvr`, an unpacked export) or
//! an export tarball. References may carry a `#part1,part2,-part3` fragment.

use std::collections::BTreeSet;
use std::path::Path;

use pv_objects::ObjectStore;
use pv_types::{ObjectId, State};

pub use pv_export::{read_bare, read_export, ExportContent};

use crate::parts::Parts;
use crate::{Error, Result};

/// A reference split into location and parts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RepoRef {
    /// Path or URL without the fragment.
    pub location: String,
    /// Parts to take (`#a,b`) and to drop from the target (`#-c`).
    pub parts: Parts,
}

impl RepoRef {
    /// Parse `location[#p1,p2,-p3]`.
    pub fn parse(s: &str) -> Self {
        let (loc, frag) = match s.split_once('#') {
            Some((l, f)) => (l, Some(f)),
            None => (s, None),
        };
        RepoRef {
            location: loc.to_string(),
            parts: Parts::parse(frag.unwrap_or("")),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments() {
        let r = RepoRef::parse("../src/.pvr#c,-b");
        assert_eq!(r.location, "../src/.pvr");
        assert_eq!(r.parts.take, ["c"]);
        assert_eq!(r.parts.drop, ["b"]);
        assert!(RepoRef::parse("http://x:12368/cgi-bin").is_remote());
        assert!(RepoRef::parse("a").parts.is_empty());
    }
}
