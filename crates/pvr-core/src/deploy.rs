//! `pvr deploy`: lay a state out as a device trail (`trails/<rev>/`):
//! objects hard-linked read-only from the pool, inline JSON canonical,
//! `.pvr/json` + `.pvr/config`, and `.pv/` boot links from `bsp/run.json`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use pv_fs::IoResultExt;
use pv_objects::ObjectStore;
use pv_types::manifest::{self, BspRunJson};
use pv_types::{State, SPEC_SERVICE_SYSTEM};

use crate::checkout::{materialize, preflight, CheckoutOptions};
use crate::config::absolute;
use crate::get::{combine, fetch, record_source};
use crate::progress::Progress;
use crate::remote::Client;
use crate::{Error, Repo, Result};

/// `pvr deploy <dir> [<ref>…]`. Messages go to `out` as pvr prints them.
pub fn deploy(
    dir: &Path,
    refs: &[String],
    nomerge: bool,
    config_dir: &Path,
    cwd: &Path,
    out: &mut dyn Write,
    progress: &Progress,
) -> Result<Repo> {
    let _ = writeln!(out, "Starting deployment ...");
    // Everything is read and checked before the trail is touched: the
    // sources' objects go to the pool, the combined state is validated,
    // and only then are the directory and its `.pvr/` written.
    let existing = if dir.join(".pvr").join("json").exists() {
        Some(Repo::open(dir, config_dir)?)
    } else {
        None
    };
    let (pool, mut state) = match &existing {
        Some(repo) => (repo.objects.clone(), repo.pristine()?),
        None => {
            let spec = if refs.len() <= 1 {
                Repo::open(cwd, config_dir)
                    .ok()
                    .and_then(|r| r.pristine().ok())
                    .and_then(|s| s.spec().map(String::from))
            } else {
                None
            };
            let spec = spec.unwrap_or_else(|| SPEC_SERVICE_SYSTEM.to_string());
            let pool = ObjectStore::open(absolute(&config_dir.join("objects")))?;
            (pool, State::new(&spec))
        }
    };
    let default_ref = [absolute(&cwd.join(".pvr")).to_string_lossy().into_owned()];
    let defaulted = refs.is_empty();
    let refs = if defaulted { &default_ref[..] } else { refs };
    let mut fetched = vec![];
    for r in refs {
        let f = fetch(&pool, r, &Client::default())?;
        state = combine(&state, &f.state, &f.parsed, !nomerge);
        fetched.push(f);
    }
    validate_state(&state)?;

    let _ = writeln!(out, "... initializing deploy repository ...");
    // the original says "single" only for the default source
    let single = if defaulted { " single" } else { "" };
    for r in refs {
        let _ = writeln!(out, "   - deploying{single} {r}");
    }
    let mut repo = match existing {
        Some(repo) => repo,
        None => {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .at("create directory", dir)?;
            let _ = fs::remove_dir_all(dir.join(".pvr"));
            Repo::init(dir, config_dir, None, state.spec())?
        }
    };
    repo.write_pristine(&state)?;
    for f in &fetched {
        record_source(&mut repo, f);
    }
    repo.save_config()?;
    let state = repo.pristine()?;
    preflight(&repo, &state, progress)?;
    let _ = writeln!(out, "... Cleanup repo ...");
    cleanup(&repo, &state)?;
    let _ = writeln!(out, "... deploying hardlinks ...");
    materialize(
        &repo,
        &state,
        CheckoutOptions {
            hardlink: true,
            canonical: true,
        },
    )?;
    let _ = writeln!(out, "... deploying .pv/ links...");
    pv_links(&repo, &state)?;
    let _ = writeln!(
        out,
        "Deployment finished. Now now available at: {}",
        dir.display()
    );
    Ok(repo)
}

/// The checks of [`crate::checkout::validate_keys`] that need no trail yet.
fn validate_state(state: &State) -> Result<()> {
    if let Err(mut report) = state.validate_structure() {
        report.0.retain(|e| *e != pv_types::Invalid::MissingSpec);
        if !report.0.is_empty() {
            return Err(Error::InvalidState {
                what: "deployed state".into(),
                report,
            });
        }
    }
    Ok(())
}

/// Remove files that are not in the state, then empty directories.
fn cleanup(repo: &Repo, state: &State) -> Result<()> {
    for f in crate::working::walk_files(&repo.root)? {
        if !state.contains_key(&f.rel) {
            fs::remove_file(&f.path).at("remove", &f.path)?;
        }
    }
    let pv = repo.root.join(".pv");
    if pv.exists() {
        fs::remove_dir_all(&pv).at("remove", &pv)?;
    }
    for e in fs::read_dir(&repo.root).at("read directory", &repo.root)? {
        let e = e.at("read directory", &repo.root)?;
        if e.file_name() != ".pvr" && e.path().is_dir() {
            remove_empty_dirs(&e.path())?;
        }
    }
    Ok(())
}

fn remove_empty_dirs(dir: &Path) -> Result<bool> {
    let mut empty = true;
    for e in fs::read_dir(dir).at("read directory", dir)? {
        let e = e.at("read directory", dir)?;
        let ft = e.file_type().at("stat", &e.path())?;
        if ft.is_dir() && !ft.is_symlink() {
            if !remove_empty_dirs(&e.path())? {
                empty = false;
            }
        } else {
            empty = false;
        }
    }
    if empty {
        fs::remove_dir(dir).at("remove directory", dir)?;
    }
    Ok(empty)
}

/// `.pv/` hard links for the bootloader, from `bsp/run.json`: the kernel
/// (`linux`, as the runtime reads it), the initrd, the fdt, or a FIT image.
fn pv_links(repo: &Repo, state: &State) -> Result<()> {
    let Some(v) = state.get("bsp/run.json") else {
        return Ok(());
    };
    let bsp: BspRunJson =
        manifest::parse(v).map_err(|e| Error::Other(format!("bsp/run.json: {e}")))?;
    let pv = repo.root.join(".pv");
    fs::create_dir_all(&pv).at("create directory", &pv)?;
    let links = bsp.boot_links();
    for (name, file) in links {
        let src = pv_fs::safe_join(&repo.root.join("bsp"), &file)?;
        let dst = pv.join(name);
        let _ = fs::remove_file(&dst);
        fs::hard_link(&src, &dst).at("hard link", &dst)?;
    }
    Ok(())
}
