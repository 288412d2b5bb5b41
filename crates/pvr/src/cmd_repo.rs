//! Local repository commands.

use std::path::PathBuf;

use pv_json::pretty;
use pvr_core::checkout::CheckoutOptions;
use pvr_core::{checkout, commit, history, status, working};
use serde_json::Value;

use crate::cli::Ctx;
use crate::exit::{Exit, WithCode};

pub fn init(ctx: &Ctx, objects: Option<PathBuf>, spec: Option<String>) -> Result<(), Exit> {
    pvr_core::Repo::init(
        &ctx.cwd,
        &ctx.config_dir,
        objects.as_deref(),
        spec.as_deref(),
    )?;
    Ok(())
}

pub fn add(ctx: &Ctx, raw: bool, globs: &[String]) -> Result<(), Exit> {
    let repo = ctx.repo().code(3)?;
    working::add(&repo, globs, raw, &ctx.progress).code(3)?;
    Ok(())
}

fn working(
    ctx: &Ctx,
    code: i32,
) -> Result<(pvr_core::Repo, pv_types::State, working::Working), Exit> {
    let repo = ctx.repo().code(code)?;
    let pristine = repo.pristine().code(code)?;
    let staged = repo.staged().code(code)?;
    let w = working::compute(&repo, &pristine, &staged, &ctx.progress).code(code)?;
    Ok((repo, pristine, w))
}

pub fn status(ctx: &Ctx, json: bool) -> Result<(), Exit> {
    let (_, pristine, w) = working(ctx, 3)?;
    let lines = status::status(&pristine, &w);
    if json {
        let arr: Vec<Value> = lines
            .iter()
            .map(|l| serde_json::json!({"status": l.kind.to_string(), "path": l.path}))
            .collect();
        outln!(
            "{}",
            pretty::to_string(&Value::Array(arr), pretty::PVR_JSON)
        );
        return Ok(());
    }
    for l in lines {
        outln!("{} {}", l.kind, l.path);
    }
    Ok(())
}

pub fn diff(ctx: &Ctx) -> Result<(), Exit> {
    let (_, pristine, w) = working(ctx, 3)?;
    let patch = status::diff(&pristine, &w.state);
    outln!(
        "{}",
        pretty::to_string(&Value::Object(patch), pretty::PVR_DIFF)
    );
    Ok(())
}

pub fn json(ctx: &Ctx, canonical: bool) -> Result<(), Exit> {
    let (_, _, w) = working(ctx, 3)?;
    let v = Value::Object(w.state.into_map());
    if canonical {
        outln!("{}", pv_json::to_canonical_string(&v));
    } else {
        outln!("{}", pretty::to_string(&v, pretty::PVR_JSON));
    }
    Ok(())
}

pub fn commit(
    ctx: &Ctx,
    message: Option<String>,
    checkpoint: bool,
    json: bool,
) -> Result<(), Exit> {
    let repo = ctx.repo()?;
    if checkpoint {
        commit::write_checkpoint(&repo, &ctx.progress)?;
    }
    // one line per file: buffered, written out at the end
    let mut err = std::io::BufWriter::new(std::io::stderr().lock());
    let r = if json {
        commit::commit(
            &repo,
            message.as_deref(),
            &mut std::io::sink(),
            &ctx.progress,
        )?
    } else {
        commit::commit(&repo, message.as_deref(), &mut err, &ctx.progress)?
    };
    if json {
        let v = serde_json::json!({
            "state-sha": r.state_sha, "added": r.added, "changed": r.changed,
            "removed": r.removed, "objects-written": r.objects_written,
        });
        outln!("{}", pretty::to_string(&v, pretty::PVR_JSON));
    }
    Ok(())
}

pub fn checkout(
    ctx: &Ctx,
    hardlink: bool,
    canonical: bool,
    rev: Option<String>,
) -> Result<(), Exit> {
    let repo = ctx.repo().code(3)?;
    let opts = CheckoutOptions {
        hardlink,
        canonical,
    };
    match rev {
        Some(r) => {
            let e = checkout::checkout_revision(&repo, &r, opts, &ctx.progress).code(3)?;
            eprintln!("checked out rev {} ({})", e.rev, &e.sha[..12]);
        }
        None => checkout::checkout(&repo, opts, &ctx.progress).code(3)?,
    }
    Ok(())
}

pub fn log(ctx: &Ctx, json: bool) -> Result<(), Exit> {
    let repo = ctx.repo()?;
    let entries = history::list(&repo)?;
    if json {
        let arr: Vec<Value> = entries
            .iter()
            .map(|e| {
                serde_json::json!({"rev": e.rev, "sha": e.sha, "parent": e.parent, "time": e.time, "message": e.message})
            })
            .collect();
        outln!(
            "{}",
            pretty::to_string(&Value::Array(arr), pretty::PVR_JSON)
        );
        return Ok(());
    }
    for e in entries.iter().rev() {
        outln!("rev {}  {}  {}\n    {}\n", e.rev, &e.sha, e.time, e.message);
    }
    Ok(())
}
