//! Commands that move states between repositories, exports and trails.

use std::path::{Path, PathBuf};

use pv_json::pretty;
use pvr_core::checkout::CheckoutOptions;
use pvr_core::source::{load_local, RepoRef};
use pvr_core::{checkout, deploy as deploy_core, export as export_core, get as get_core, Repo};
use serde_json::Value;

use crate::cli::Ctx;
use crate::exit::{Exit, WithCode};

pub fn get(ctx: &Ctx, reference: Option<String>, merge: bool) -> Result<(), Exit> {
    let mut repo = ctx.repo()?;
    let reference = match reference {
        Some(r) => r,
        None if !repo.config.default_put_url.is_empty() => repo.config.default_put_url.clone(),
        None if !repo.config.default_get_url.is_empty() => repo.config.default_get_url.clone(),
        None => {
            return Err(Exit::code(
                1,
                "ERROR: no repository given and no default remote saved",
            ))
        }
    };
    let reference = ctx.reference(&reference);
    let report = get_core::get_with(&mut repo, &reference, merge, &ctx.client)?;
    for l in &report.lines {
        eprintln!("{l}");
    }
    outln!(
        "\nImported {} objects to {}\n\n",
        report.imported,
        report.pool.display()
    );
    outln!("Run pvr checkout to checkout the changed files into the workspace.");
    Ok(())
}

pub fn clone(
    ctx: &Ctx,
    reference: &str,
    dir: Option<PathBuf>,
    objects: Option<PathBuf>,
    canonical: bool,
) -> Result<(), Exit> {
    let reference = &ctx.reference(reference);
    let r = RepoRef::parse(reference);
    let target = match dir {
        Some(d) => d,
        None if r.is_remote() => {
            let base = pvr_core::remote::clone_dir_name(&r.location);
            PathBuf::from(if base.is_empty() { "clone" } else { &base })
        }
        None => {
            let loc = r.location.trim_end_matches('/');
            let loc = loc.strip_suffix("/.pvr").unwrap_or(loc);
            let base = Path::new(loc)
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let base = base
                .trim_end_matches(".tgz")
                .trim_end_matches(".tar.gz")
                .trim_end_matches(".tar");
            PathBuf::from(if base.is_empty() { "clone" } else { base })
        }
    };
    let target = ctx.cwd.join(target);
    if target.exists()
        && std::fs::read_dir(&target)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(Exit::code(
            9,
            format!("destination {} exists and is not empty", target.display()),
        ));
    }
    let parent = target.parent().unwrap_or(Path::new(".")).to_path_buf();
    let tmp = tempfile::Builder::new()
        .prefix("pvr-clone-")
        .tempdir_in(&parent)
        .code(6)?;
    let mut repo = Repo::init(tmp.path(), &ctx.config_dir, objects.as_deref(), None).code(6)?;
    // relative references are relative to where the user typed them
    let abs_ref = if r.is_remote() || Path::new(&r.location).is_absolute() {
        reference.to_string()
    } else {
        let frag = reference
            .split_once('#')
            .map(|(_, f)| format!("#{f}"))
            .unwrap_or_default();
        format!("{}{frag}", ctx.cwd.join(&r.location).display())
    };
    get_core::get_with(&mut repo, &abs_ref, false, &ctx.client).code(7)?;
    checkout::checkout(
        &repo,
        CheckoutOptions {
            hardlink: false,
            canonical,
        },
        &ctx.progress,
    )
    .code(8)?;
    let tmp = tmp.keep();
    if target.exists() {
        std::fs::remove_dir(&target).code(9)?;
    }
    std::fs::rename(&tmp, &target).code(9)?;
    outln!("Successfully cloned: {}", target.display());
    Ok(())
}

pub fn inspect(ctx: &Ctx, reference: Option<String>, canonical: bool) -> Result<(), Exit> {
    let state = match reference {
        None => ctx.repo()?.pristine()?,
        Some(r) => {
            let rr = RepoRef::parse(&ctx.reference(&r));
            if rr.is_remote() {
                let remote = pvr_core::remote::discover(&ctx.client, &rr.location)?;
                let state = remote.fetch_state(&ctx.client)?;
                return print_state(rr.parts.select(&state), canonical);
            }
            // inspecting must not change anything: read tarballs into a scratch pool
            let scratch = tempfile::tempdir()?;
            let pool = pv_objects::ObjectStore::open(scratch.path())?;
            let loaded = load_local(&ctx.cwd.join(&rr.location), &pool)?;
            rr.parts.select(&loaded.state)
        }
    };
    print_state(state, canonical)
}

fn print_state(state: pv_types::State, canonical: bool) -> Result<(), Exit> {
    let v = Value::Object(state.into_map());
    if canonical {
        outln!("{}", pv_json::to_canonical_string(&v));
    } else {
        outln!("{}", pretty::to_string(&v, pretty::PVR_JSON));
    }
    Ok(())
}

pub fn export(ctx: &Ctx, parts: Option<String>, file: &str) -> Result<(), Exit> {
    let repo = ctx.repo().code(3)?;
    let parts = pvr_core::parts::Parts::parse(parts.as_deref().unwrap_or(""));
    let dest = if file == "-" {
        file.to_string()
    } else {
        ctx.cwd.join(file).to_string_lossy().into_owned()
    };
    export_core::export(&repo, &parts, &dest).code(3)?;
    Ok(())
}

pub fn import(ctx: &Ctx, file: &Path) -> Result<(), Exit> {
    let repo = ctx.repo().code(3)?;
    export_core::import(&repo, &ctx.cwd.join(file)).code(3)?;
    Ok(())
}

pub fn deploy(ctx: &Ctx, dir: &Path, refs: &[String], nomerge: bool) -> Result<(), Exit> {
    let mut out = std::io::stdout().lock();
    deploy_core::deploy(
        dir,
        refs,
        nomerge,
        &ctx.config_dir,
        &ctx.cwd,
        &mut out,
        &ctx.progress,
    )
    .code(10)?;
    Ok(())
}
