//! `pvr checkout` (alias reset): write the committed state into the tree.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use pv_fs::IoResultExt;
use pv_types::{ObjectId, State};
use rayon::prelude::*;

use crate::progress::Progress;
use crate::{history, Error, Repo, Result};

/// How files are written.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckoutOptions {
    /// Hard-link objects from the pool (made read-only, 0444) instead of copying.
    pub hardlink: bool,
    /// Write inline JSON canonically instead of the 4-space pretty form.
    pub canonical: bool,
}

/// Refuse a state that is malformed or whose keys could reach outside the
/// checkout (`..`, absolute paths, empty segments, `.pvr/`, a symlinked
/// directory on the way). The one check of `checkout`, `commit` and
/// `deploy`; `what` names the state in the error.
pub fn validate_keys(repo: &Repo, state: &State, what: &str) -> Result<()> {
    if let Err(mut report) = state.validate_structure() {
        // an empty pristine state (no #spec yet) has nothing to write
        report.0.retain(|e| *e != pv_types::Invalid::MissingSpec);
        if !report.0.is_empty() {
            return Err(Error::InvalidState {
                what: what.into(),
                report,
            });
        }
    }
    for k in state.keys().filter(|k| *k != "#spec") {
        pv_fs::safe_join(&repo.root, k)?;
    }
    Ok(())
}

/// Refuse a state whose keys could write outside the checkout, and make
/// sure every object it needs is in the pool with the right content.
/// Nothing is written before this passes.
pub fn preflight(repo: &Repo, state: &State, progress: &Progress) -> Result<()> {
    validate_keys(repo, state, "committed state")?;
    let ids = state.object_ids();
    let bar = progress.bytes("verifying", || {
        ids.iter()
            .filter_map(|id| repo.objects.path(id).metadata().ok())
            .map(|m| m.len())
            .sum()
    });
    ids.par_iter().try_for_each(|id| {
        repo.objects.verify(id)?;
        bar.inc_with(|| {
            repo.objects
                .path(id)
                .metadata()
                .map(|m| m.len())
                .unwrap_or(0)
        });
        Ok::<_, Error>(())
    })?;
    bar.finish();
    Ok(())
}

/// Write every key of the committed state into the tree. Files that are
/// not in the state are left alone (they show as untracked).
pub fn checkout(repo: &Repo, opts: CheckoutOptions, progress: &Progress) -> Result<()> {
    let state = repo.pristine()?;
    preflight(repo, &state, progress)?;
    materialize(repo, &state, opts)?;
    repo.clear_staged()
}

/// Write `state`'s files under `repo.root` (after [`preflight`]).
pub(crate) fn materialize(repo: &Repo, state: &State, opts: CheckoutOptions) -> Result<()> {
    for (k, v) in state.iter().filter(|(k, _)| *k != "#spec") {
        let dest = pv_fs::safe_join(&repo.root, k)?;
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).at("create directory", parent)?;
        }
        if State::is_inline_json(k, v) {
            let bytes = if opts.canonical || opts.hardlink {
                pv_json::to_canonical(v)
            } else {
                pv_json::pretty::to_string(v, pv_json::pretty::CHECKOUT).into_bytes()
            };
            write_file(&dest, &bytes)?;
            continue;
        }
        let id: ObjectId = v
            .as_str()
            .unwrap_or("")
            .to_ascii_lowercase()
            .parse()
            .map_err(|_| Error::Other(format!("key {k:?}: not an object id")))?;
        if opts.hardlink {
            repo.objects.link_out(&id, &dest)?;
            let p = repo.objects.path(&id);
            fs::set_permissions(&p, fs::Permissions::from_mode(0o444)).at("chmod", &p)?;
        } else {
            repo.objects.copy_out(&id, &dest)?;
        }
    }
    Ok(())
}

fn write_file(dest: &Path, bytes: &[u8]) -> Result<()> {
    if dest.is_dir() {
        return Err(Error::Other(format!("{}: is a directory", dest.display())));
    }
    Ok(pv_fs::write_atomic(dest, bytes)?)
}

/// Check out an earlier commit of the local history: it becomes the
/// committed state; files of the current state that it lacks are removed.
pub fn checkout_revision(
    repo: &Repo,
    what: &str,
    opts: CheckoutOptions,
    progress: &Progress,
) -> Result<history::Entry> {
    let entry = history::resolve(repo, what)?;
    let target = history::load_state(repo, &entry)?;
    preflight(repo, &target, progress)?;
    let current = repo.pristine()?;
    for k in current
        .keys()
        .filter(|k| *k != "#spec" && !target.contains_key(k.as_str()))
    {
        if let Ok(p) = pv_fs::safe_join(&repo.root, k) {
            if p.is_file() {
                fs::remove_file(&p).at("remove", &p)?;
            }
        }
    }
    repo.write_pristine(&target)?;
    materialize(repo, &target, opts)?;
    repo.clear_staged()?;
    Ok(entry)
}
