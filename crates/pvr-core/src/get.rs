//! `pvr get` and `pvr merge`: bring a state (or some of its parts) into the
//! committed state, with its objects. The working tree is not touched.

use std::collections::BTreeSet;
use std::path::PathBuf;

use pv_objects::{IngestItem, ObjectStore};
use pv_types::{ObjectId, State};

use crate::remote::{discover, Client};
use crate::source::{load_local, RepoRef};
use crate::{Error, Repo, Result};

/// What `get`/`merge` did.
#[derive(Debug, Clone, Default)]
pub struct GetReport {
    /// Number of objects of the fetched parts (copied or already present).
    pub imported: usize,
    /// One `<key> [OK]` / `<key> [OK cache]` line per object.
    pub lines: Vec<String>,
    /// The pool the objects went to.
    pub pool: PathBuf,
    /// The new committed state.
    pub state: State,
}

/// Combine the committed state with a fetched one, as `get` (replace the
/// named parts, or everything) or `merge` (JSON merge patch) does.
pub fn combine(pristine: &State, remote: &State, r: &RepoRef, merge: bool) -> State {
    let parts = &r.parts;
    let fetched = parts.select(remote);
    let mut next = if merge {
        let mut base = parts.without_dropped(pristine).into_map();
        pv_json::merge_patch::apply(&mut base, fetched.as_map());
        State::from_map(base)
    } else if parts.take.is_empty() {
        parts.without_dropped(&fetched)
    } else {
        let mut base = parts.without_taken(&parts.without_dropped(pristine));
        for (k, v) in fetched.iter().filter(|(k, _)| *k != "#spec") {
            base.insert(k.clone(), v.clone());
        }
        base
    };
    if next.spec().is_none() {
        if let Some(s) = remote.get("#spec") {
            next.insert("#spec", s.clone());
        }
    }
    next
}

/// `pvr get <ref>` (merge = false) or `pvr merge <ref>` (merge = true),
/// anonymously for remotes. See [`get_with`].
pub fn get(repo: &mut Repo, reference: &str, merge: bool) -> Result<GetReport> {
    get_with(repo, reference, merge, &Client::default())
}

/// A state read from a reference, with the objects of its selected parts
/// already verified into a pool.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The reference as given.
    pub reference: String,
    /// The reference split into location and parts.
    pub parsed: RepoRef,
    /// The whole state of the source (parts are applied by [`combine`]).
    pub state: State,
    /// One `<key> [OK]` / `<key> [OK cache]` line per object of the parts.
    pub lines: Vec<String>,
}

/// `pvr get`/`pvr merge` from a local repository, an export or an http(s)
/// remote (through `client`). Objects are stored first (verified); the
/// committed state is replaced only once all of them are there, so a
/// failure leaves `.pvr/` as it was.
pub fn get_with(
    repo: &mut Repo,
    reference: &str,
    merge: bool,
    client: &Client,
) -> Result<GetReport> {
    let f = fetch(&repo.objects, reference, client)?;
    let next = combine(&repo.pristine()?, &f.state, &f.parsed, merge);
    repo.write_pristine(&next)?;
    record_source(repo, &f);
    repo.save_config()?;
    Ok(GetReport {
        imported: f.lines.len(),
        lines: f.lines,
        pool: repo.objects.dir().to_path_buf(),
        state: next,
    })
}

/// Remember where a state came from, as pvr does after a get: the get URL,
/// and for remotes the put and post URLs if none is saved.
pub fn record_source(repo: &mut Repo, f: &Fetched) {
    repo.config.default_get_url = f.reference.clone();
    if f.parsed.is_remote() {
        if repo.config.default_put_url.is_empty() {
            repo.config.default_put_url = f.parsed.location.clone();
        }
        if repo.config.default_post_url.is_empty() {
            repo.config.default_post_url = f.parsed.location.clone();
        }
    }
}

/// Read the state `reference` names (a local repository, an export or an
/// http(s) remote) and bring the objects of its selected parts into
/// `objects`. An invalid state is refused before any object is copied
/// (for exports: before the state is returned). Nothing but the pool is
/// written.
pub fn fetch(objects: &ObjectStore, reference: &str, client: &Client) -> Result<Fetched> {
    let r = RepoRef::parse(reference);
    if r.is_remote() {
        return fetch_remote(objects, reference, r, client);
    }
    let loaded = load_local(std::path::Path::new(&r.location), objects)?;
    validate(&loaded.state, &r.location)?;
    let mut lines = vec![];
    let mut missing = vec![];
    for (k, id) in r.parts.select(&loaded.state).objects() {
        let fresh = loaded.written.contains(&id);
        if objects.contains(&id) {
            lines.push(format!("{k} [OK{}]", if fresh { "" } else { " cache" }));
        } else {
            let src = loaded
                .objects
                .as_ref()
                .ok_or_else(|| Error::Other(format!("object {id} missing")))?;
            missing.push(IngestItem {
                src: src.path(&id),
                expected: Some(id),
            });
            lines.push(format!("{k} [OK]"));
        }
    }
    // copied and verified in parallel, made durable together
    objects.ingest(&missing, &|_| {})?;
    Ok(Fetched {
        reference: reference.to_string(),
        parsed: r,
        state: loaded.state,
        lines,
    })
}

fn validate(state: &State, what: &str) -> Result<()> {
    state
        .validate_structure()
        .map_err(|report| Error::InvalidState {
            what: what.to_string(),
            report,
        })
}

fn fetch_remote(
    objects: &ObjectStore,
    reference: &str,
    r: RepoRef,
    client: &Client,
) -> Result<Fetched> {
    let remote = discover(client, &r.location)?;
    let state = remote.fetch_state(client)?;
    validate(&state, &r.location)?;
    let fetched = r.parts.select(&state);
    let ids: Vec<ObjectId> = fetched.objects().into_iter().map(|(_, id)| id).collect();
    let downloaded: BTreeSet<ObjectId> = remote
        .download_missing(client, objects, &ids)?
        .into_iter()
        .collect();
    let lines = fetched
        .objects()
        .into_iter()
        .map(|(k, id)| {
            let how = if downloaded.contains(&id) {
                ""
            } else {
                " cache"
            };
            format!("{k} [OK{how}]")
        })
        .collect();
    Ok(Fetched {
        reference: reference.to_string(),
        parsed: r,
        state,
        lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(s: &str) -> State {
        State::from_slice(s.as_bytes()).unwrap()
    }

    /// spec §9 item 21
    #[test]
    fn get_and_merge_semantics() {
        let p = st(r##"{"#spec":"S","a/x":"h1","b/y":"h2"}"##);
        let remote = st(r##"{"#spec":"S","a/x":"h3","c/z":"h4"}"##);
        let c = |r: &str, m| combine(&p, &remote, &RepoRef::parse(r), m).to_canonical();
        assert_eq!(c("x", false), br##"{"#spec":"S","a/x":"h3","c/z":"h4"}"##);
        assert_eq!(c("x#a", false), br##"{"#spec":"S","a/x":"h3","b/y":"h2"}"##);
        assert_eq!(
            c("x#c,-b", false),
            br##"{"#spec":"S","a/x":"h1","c/z":"h4"}"##
        );
        assert_eq!(
            c("x", true),
            br##"{"#spec":"S","a/x":"h3","b/y":"h2","c/z":"h4"}"##
        );
    }

    /// `#bsp` is the part `bsp`, never `bspx` (nor `bsp.json`)
    #[test]
    fn parts_never_reach_a_longer_name() {
        let p = st(r##"{"#spec":"S","bsp/a":"h1","bspx/b":"h2","bsp.json":{},"app/c":"h3"}"##);
        let remote =
            st(r##"{"#spec":"S","bsp":"h6","bsp/a":"h4","bspx/b":"h5","bsp.json":{"r":1}}"##);
        let c = |r: &str, m| combine(&p, &remote, &RepoRef::parse(r), m).to_canonical();
        assert_eq!(
            c("x#bsp", false),
            br##"{"#spec":"S","app/c":"h3","bsp":"h6","bsp.json":{},"bsp/a":"h4","bspx/b":"h2"}"##
        );
        assert_eq!(
            c("x#bsp/", true),
            br##"{"#spec":"S","app/c":"h3","bsp":"h6","bsp.json":{},"bsp/a":"h4","bspx/b":"h2"}"##
        );
        // take app (absent remotely), drop bsp: bspx and bsp.json stay
        assert_eq!(
            c("x#app,-bsp", false),
            br##"{"#spec":"S","bsp.json":{},"bspx/b":"h2"}"##
        );
        assert_eq!(
            c("x#-bsp", true),
            br##"{"#spec":"S","app/c":"h3","bsp":"h6","bsp.json":{"r":1},"bsp/a":"h4","bspx/b":"h5"}"##
        );
    }
}
