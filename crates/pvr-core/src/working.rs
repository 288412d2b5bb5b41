//! The working state: what the committed state would become if the files on
//! disk were committed now.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use pv_fs::IoResultExt;
use pv_types::{is_sha, ObjectId, State, SPEC_SERVICE_SYSTEM};
use rayon::prelude::*;
use serde_json::Value;

use crate::error::parse_json_file;
use crate::progress::Progress;
use crate::repo::Staged;
use crate::statcache::StatCache;
use crate::{Repo, Result};

/// A file of the checkout, in directory-walk order.
#[derive(Debug, Clone)]
pub struct TreeFile {
    /// Path relative to the checkout, `/`-separated.
    pub rel: String,
    /// Absolute path.
    pub path: PathBuf,
}

/// True for paths that belong to the repository machinery, not the state.
pub fn is_internal(rel: &str) -> bool {
    let first = rel.split('/').next().unwrap_or("");
    first == ".pvr" || first == ".pv" || rel.rsplit('/').next().is_some_and(pv_fs::is_temp_name)
}

/// Every regular file (or symlink to one) under `root`, each directory's
/// entries sorted by name, internal paths left out.
pub fn walk_files(root: &Path) -> Result<Vec<TreeFile>> {
    let mut out = vec![];
    let walker = walkdir::WalkDir::new(root)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter();
    let walker = walker.filter_entry(|e| {
        let rel = e.path().strip_prefix(root).unwrap_or(e.path());
        !is_internal(&rel.to_string_lossy())
    });
    for e in walker {
        let e = e.map_err(|e| {
            let p = e.path().unwrap_or(root).to_path_buf();
            pv_fs::FsError::new("walk", p, e.into())
        })?;
        let ft = e.file_type();
        let is_file =
            ft.is_file() || (ft.is_symlink() && e.path().metadata().is_ok_and(|m| m.is_file()));
        if !is_file {
            continue;
        }
        let rel = e
            .path()
            .strip_prefix(root)
            .expect("under root")
            .to_string_lossy()
            .replace('\\', "/");
        out.push(TreeFile {
            rel,
            path: e.path().to_path_buf(),
        });
    }
    Ok(out)
}

/// The working state and the files that are not tracked.
#[derive(Debug, Clone)]
pub struct Working {
    pub state: State,
    /// Untracked files in walk order.
    pub untracked: Vec<String>,
    /// Where each object-valued key's bytes are on disk.
    pub sources: BTreeMap<String, PathBuf>,
}

/// How a tracked file enters the state.
fn is_inline(rel: &str, pristine: &State, staged: &BTreeMap<String, Staged>) -> bool {
    if !rel.ends_with(".json") {
        return false;
    }
    if staged.get(rel).is_some_and(|s| s.force_object) {
        return false;
    }
    !pristine
        .get(rel)
        .and_then(Value::as_str)
        .is_some_and(is_sha)
}

/// Compute the working state of `repo` against `pristine`.
pub fn compute(
    repo: &Repo,
    pristine: &State,
    staged: &BTreeMap<String, Staged>,
    progress: &Progress,
) -> Result<Working> {
    let files = walk_files(&repo.root)?;
    let spec = pristine.spec().unwrap_or(SPEC_SERVICE_SYSTEM).to_string();
    let mut untracked = vec![];
    let mut tracked = vec![];
    for f in files {
        if pristine.contains_key(&f.rel) || staged.contains_key(&f.rel) {
            tracked.push(f);
        } else {
            untracked.push(f.rel);
        }
    }
    let cache = StatCache::load(&repo.config_dir, &repo.root);
    let bar = progress.bytes("hashing", || {
        tracked
            .iter()
            .filter_map(|f| f.path.metadata().ok())
            .map(|m| m.len())
            .sum()
    });
    let values: Vec<Result<(String, Value, Option<PathBuf>)>> = tracked
        .par_iter()
        .map(|f| {
            if is_inline(&f.rel, pristine, staged) {
                let bytes = fs::read(&f.path).at("read", &f.path)?;
                bar.inc(bytes.len() as u64);
                Ok((f.rel.clone(), parse_json_file(&f.rel, &bytes)?, None))
            } else {
                let id = hash_cached(&cache, &f.rel, &f.path)?;
                bar.inc_with(|| f.path.metadata().map(|m| m.len()).unwrap_or(0));
                Ok((
                    f.rel.clone(),
                    Value::String(id.to_hex()),
                    Some(f.path.clone()),
                ))
            }
        })
        .collect();
    bar.finish();
    let mut state = State::new(&spec);
    let mut sources = BTreeMap::new();
    for v in values {
        let (k, v, src) = v?;
        if let Some(src) = src {
            sources.insert(k.clone(), src);
        }
        state.insert(k, v);
    }
    cache.save();
    Ok(Working {
        state,
        untracked,
        sources,
    })
}

/// sha256 of a file, through the stat cache.
pub(crate) fn hash_cached(cache: &StatCache, rel: &str, path: &Path) -> Result<ObjectId> {
    let md = fs::metadata(path).at("stat", path)?;
    if let Some(id) = cache.lookup(rel, &md) {
        return Ok(id);
    }
    let id = pv_objects::hash_file(path)?;
    cache.remember(rel, &md, id);
    Ok(id)
}

/// `pvr add`: stage files matching `globs` (no glob or `.` = everything).
/// A glob is matched against the whole path with single-level `*`; naming a
/// directory stages nothing (as in pvr).
pub fn add(repo: &Repo, globs: &[String], raw: bool, progress: &Progress) -> Result<usize> {
    let files = walk_files(&repo.root)?;
    let all = globs.is_empty() || (globs.len() == 1 && globs[0] == ".");
    let mut matchers = vec![];
    if !all {
        for g in globs {
            // `./x` names `x`; an absolute pattern is matched under the root
            let root = repo.root.to_string_lossy();
            let g = match g.strip_prefix(root.as_ref()) {
                Some(rest) if rest.starts_with('/') => rest.trim_start_matches('/'),
                _ => g.trim_start_matches("./"),
            };
            let m = globset::GlobBuilder::new(g)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| crate::Error::Usage(format!("bad pattern {g:?}: {e}")))?
                .compile_matcher();
            matchers.push(m);
        }
    }
    let selected: Vec<&TreeFile> = files
        .iter()
        .filter(|f| all || matchers.iter().any(|m| m.is_match(&f.rel)))
        .collect();
    let mut staged = repo.staged()?;
    let cache = StatCache::load(&repo.config_dir, &repo.root);
    let bar = progress.bytes("hashing", || {
        selected
            .iter()
            .filter_map(|f| f.path.metadata().ok())
            .map(|m| m.len())
            .sum()
    });
    let hashed: Vec<Result<(String, ObjectId)>> = selected
        .par_iter()
        .map(|f| {
            let id = hash_cached(&cache, &f.rel, &f.path)?;
            bar.inc_with(|| f.path.metadata().map(|m| m.len()).unwrap_or(0));
            Ok((f.rel.clone(), id))
        })
        .collect();
    bar.finish();
    let mut n = 0;
    for h in hashed {
        let (rel, id) = h?;
        staged.insert(
            rel,
            Staged {
                force_object: raw,
                sha: id.to_hex(),
            },
        );
        n += 1;
    }
    repo.write_staged(&staged)?;
    cache.save();
    Ok(n)
}
