//! `pvr get` and `pvr merge`: bring a state (or some of its parts) into the
//! committed state, with its objects. The working tree is not touched.

use std::collections::BTreeSet;
use std::path::PathBuf;

use pv_types::{ObjectId, State};

use crate::remote::{discover, Client};
use crate::source::{load_local, RepoRef};
use crate::state_ops::{drop_parts, in_any_part};
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
    let fetched = if r.parts.is_empty() {
        remote.clone()
    } else {
        remote.filter_parts(&r.parts)
    };
    let mut next = if merge {
        let mut base = drop_parts(pristine, &r.drop).into_map();
        pv_json::merge_patch::apply(&mut base, fetched.as_map());
        State::from_map(base)
    } else if r.parts.is_empty() {
        drop_parts(&fetched, &r.drop)
    } else {
        let mut base = drop_parts(pristine, &r.drop);
        base.as_map_mut()
            .retain(|k, _| k == "#spec" || !in_any_part(k, &r.parts));
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
    let r = RepoRef::parse(reference);
    if r.is_remote() {
        return get_remote(repo, reference, &r, merge, client);
    }
    let loaded = load_local(std::path::Path::new(&r.location), &repo.objects)?;
    loaded
        .state
        .validate_structure()
        .map_err(|report| Error::InvalidState {
            what: r.location.clone(),
            report,
        })?;
    let fetched = if r.parts.is_empty() {
        loaded.state.clone()
    } else {
        loaded.state.filter_parts(&r.parts)
    };
    let mut report = GetReport {
        pool: repo.objects.dir().to_path_buf(),
        ..Default::default()
    };
    for (k, id) in fetched.objects() {
        let fresh = loaded.written.contains(&id);
        if repo.objects.contains(&id) {
            report
                .lines
                .push(format!("{k} [OK{}]", if fresh { "" } else { " cache" }));
        } else {
            let src = loaded
                .objects
                .as_ref()
                .ok_or_else(|| Error::Other(format!("object {id} missing")))?;
            let f = src.open_raw(&id)?;
            repo.objects.put_reader(f, Some(&id), &src.path(&id))?;
            report.lines.push(format!("{k} [OK]"));
        }
        report.imported += 1;
    }
    let next = combine(&repo.pristine()?, &loaded.state, &r, merge);
    repo.write_pristine(&next)?;
    repo.config.default_get_url = reference.to_string();
    repo.save_config()?;
    report.state = next;
    Ok(report)
}

fn get_remote(
    repo: &mut Repo,
    reference: &str,
    r: &RepoRef,
    merge: bool,
    client: &Client,
) -> Result<GetReport> {
    let pristine = repo.pristine()?;
    let remote = discover(client, &r.location)?;
    let state = remote.fetch_state(client)?;
    let fetched = if r.parts.is_empty() {
        state.clone()
    } else {
        state.filter_parts(&r.parts)
    };
    let ids: Vec<ObjectId> = fetched.objects().into_iter().map(|(_, id)| id).collect();
    let downloaded: BTreeSet<ObjectId> = remote
        .download_missing(client, &repo.objects, &ids)?
        .into_iter()
        .collect();
    let mut report = GetReport {
        pool: repo.objects.dir().to_path_buf(),
        ..Default::default()
    };
    for (k, id) in fetched.objects() {
        let how = if downloaded.contains(&id) {
            ""
        } else {
            " cache"
        };
        report.lines.push(format!("{k} [OK{how}]"));
        report.imported += 1;
    }
    let next = combine(&pristine, &state, r, merge);
    repo.write_pristine(&next)?;
    repo.config.default_get_url = reference.to_string();
    if repo.config.default_put_url.is_empty() {
        repo.config.default_put_url = r.location.clone();
    }
    if repo.config.default_post_url.is_empty() {
        repo.config.default_post_url = r.location.clone();
    }
    repo.save_config()?;
    report.state = next;
    Ok(report)
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
}
