//! Commands that only make sense with an http(s) remote.

use pv_json::pretty;
use pvr_core::remote::{self, post as post_core, upload};

use crate::cli::Ctx;
use crate::exit::{Exit, WithCode};

fn progress_line(l: &str) {
    eprintln!("{l}");
}

pub fn post(ctx: &Ctx, mut opts: post_core::PostOptions, json: bool) -> Result<(), Exit> {
    let mut repo = ctx.repo().code(3)?;
    opts.url = opts.url.map(|u| ctx.reference(&u));
    let report = post_core::post(&mut repo, &ctx.client, &opts, &progress_line).code(3)?;
    let u = &report.upload;
    eprintln!(
        "Uploaded {} objects ({} bytes); {} already on the remote",
        u.uploaded.len(),
        u.bytes,
        u.in_baseline + u.present
    );
    if let Some(e) = &report.run_error {
        eprintln!("WARNING: the remote did not run the revision: {e}");
    }
    eprintln!("{}", report.message());
    if json {
        outln!("{}", pretty::to_string(&report.response, pretty::PVR_JSON));
    }
    Ok(())
}

pub fn putobjects(ctx: &Ctx, endpoint: &str, force: bool) -> Result<(), Exit> {
    let repo = ctx.repo().code(3)?;
    let report = upload::put_objects(
        &repo,
        &ctx.client,
        endpoint,
        force,
        &progress_line,
        &ctx.progress,
    )
    .code(3)?;
    eprintln!(
        "Uploaded {} objects ({} bytes); {} already on the remote",
        report.uploaded.len(),
        report.bytes,
        report.present
    );
    Ok(())
}

pub fn remoteinfo(ctx: &Ctx, reference: Option<String>) -> Result<(), Exit> {
    let reference = match reference {
        Some(r) => ctx.reference(&r),
        None => {
            let c = ctx.repo()?.config;
            [c.default_get_url, c.default_post_url]
                .into_iter()
                .find(|u| !u.is_empty())
                .ok_or_else(|| {
                    Exit::code(1, "ERROR: no remote given and no default remote saved")
                })?
        }
    };
    let loc = reference
        .split_once('#')
        .map_or(reference.as_str(), |(l, _)| l);
    if !remote::is_url(loc) {
        return Err(Exit::code(
            1,
            format!("ERROR: not a remote REST endpoint: {loc}"),
        ));
    }
    let r = remote::discover(&ctx.client, loc)?;
    outln!("{}", pretty::to_string(&r.raw, pretty::PVR_JSON));
    Ok(())
}
