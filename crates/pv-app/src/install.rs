//! Bringing an app's squashfs files and templates in line with its
//! src.json, into a staging directory. Squashfs files are rebuilt only when
//! their digest file does not match the recipe.

use std::path::Path;

use crate::error::{AppError, Result};
use crate::image::ResolvedImage;
use crate::ops::{app_dir, app_install, read_src, AppEnv};
use crate::options::{
    AppInstallOptions, AppReport, ProgressEvent, RegistryOptions, SourceType, SquashOutcome,
};
use crate::overlay::{OVL_DIGEST_FILE, OVL_FILE};
use crate::platform::configured_platforms;
use crate::rootfs_build::{build_from_image, build_from_rootfs, build_overlay, Built};
use crate::source::{classify, resolve_image, ImageAccess};
use crate::squashfs::{DOCKER_DIGEST_FILE, ROOTFS_DIGEST_FILE, SQUASH_FILE};
use crate::src_json::Source;
use crate::staging::Staging;
use crate::template::prepare;
use crate::template_lxc::render_lxc_conf;
use crate::template_run::render_run_json;

pub(crate) const LXC_FILE: &str = "lxc.container.conf";
pub(crate) const RUN_FILE: &str = "run.json";

/// The report being built and the files to delete from the app on commit.
pub(crate) struct Work {
    pub report: AppReport,
    pub remove: Vec<&'static str>,
}

impl Work {
    pub fn new(name: &str) -> Self {
        Work {
            report: AppReport {
                name: name.to_string(),
                digest: None,
                platform: None,
                squashfs: SquashOutcome::UpToDate,
                files: vec![],
                messages: vec![],
                warnings: vec![],
            },
            remove: vec![],
        }
    }

    pub fn write(&mut self, stage: &Staging, file: &str, bytes: &[u8]) -> Result<()> {
        pv_fs::write_atomic(stage.dir().join(file), bytes)?;
        self.report.files.push(file.to_string());
        Ok(())
    }

    fn built(
        &mut self,
        stage: &Staging,
        file: &str,
        digest_file: &str,
        digest: &str,
        b: &Built,
    ) -> Result<()> {
        self.report.files.push(file.to_string());
        self.write(stage, digest_file, digest.as_bytes())?;
        self.report.squashfs = SquashOutcome::Built {
            sha256: b.sha256.clone(),
            size: b.size,
        };
        Ok(())
    }
}

/// An image already resolved by the caller, used when its digest is the one
/// needed.
pub(crate) type Prefetched = Option<(ResolvedImage, ImageAccess)>;

fn digest_file_is(dir: &Path, squash: &str, digest_file: &str, want: Option<&str>) -> bool {
    let Some(want) = want else { return false };
    dir.join(squash).is_file()
        && std::fs::read(dir.join(digest_file)).ok().as_deref() == Some(want.as_bytes())
}

/// Resolve the image a recorded digest names: `<location>@sha256:<hex>`
/// (registry name or local path), or a bare digest looked up at `fallback`.
fn resolve_pinned(
    env: &AppEnv<'_>,
    recorded: &str,
    fallback: Option<String>,
    platform: Option<&str>,
    source_list: &str,
    reg: &RegistryOptions,
    prefetched: &mut Prefetched,
) -> Result<(ResolvedImage, ImageAccess)> {
    let (loc, digest) = match recorded.rsplit_once('@') {
        Some((l, d)) => (l.to_string(), d),
        None => (
            fallback.ok_or_else(|| AppError::image(recorded, "no image name to fetch it from"))?,
            recorded,
        ),
    };
    if let Some((img, _)) = prefetched.as_ref() {
        if img.digest == digest {
            return Ok(prefetched.take().expect("checked"));
        }
    }
    let spec = classify(&loc, Some(SourceType::Docker))?;
    let platforms = configured_platforms(platform, env.pristine);
    resolve_image(&spec, Some(digest), &platforms, source_list, reg)
}

/// Docker apps: `root.squashfs` for `docker_digest` (or, for an app on a
/// base app, the base app installed first) and `root.ovl.squashfs` for
/// `docker_ovl_digest`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn install_docker(
    env: &AppEnv<'_>,
    work: &mut Work,
    stage: &Staging,
    dir: &Path,
    src: &mut Source,
    source_list: &str,
    reg: &RegistryOptions,
    mut prefetched: Prefetched,
) -> Result<()> {
    let platform = src.str("docker_platform").map(String::from);
    let mut base_changed = false;
    let base_squash = match src.str("base").map(String::from) {
        Some(base) => {
            let (base, bdir) = app_dir(env.checkout, &base)?;
            let bsrc = read_src(&bdir, &base)?;
            let bwant = bsrc.str("docker_digest").map(String::from);
            if !digest_file_is(&bdir, SQUASH_FILE, DOCKER_DIGEST_FILE, bwant.as_deref()) {
                env.progress
                    .event(ProgressEvent::Step("installing the base app"));
                app_install(
                    env,
                    &base,
                    &AppInstallOptions {
                        registry: reg.clone(),
                        ..Default::default()
                    },
                )?;
                work.report
                    .messages
                    .push(format!("installed base app {base}"));
            }
            if src.str("docker_digest") != bwant.as_deref() {
                src.set_str("docker_digest", bwant.as_deref());
                base_changed = true;
            }
            bdir.join(SQUASH_FILE)
        }
        None => {
            let want = src.str("docker_digest").map(String::from);
            work.report.digest = want.clone();
            if digest_file_is(dir, SQUASH_FILE, DOCKER_DIGEST_FILE, want.as_deref()) {
                env.progress
                    .event(ProgressEvent::Step("root.squashfs: already up to date"));
                dir.join(SQUASH_FILE)
            } else {
                let want = want.ok_or_else(|| {
                    AppError::image(dir.display().to_string(), "src.json has no docker_digest")
                })?;
                let (img, mut access) = resolve_pinned(
                    env,
                    &want,
                    src.track_ref(),
                    platform.as_deref(),
                    source_list,
                    reg,
                    &mut prefetched,
                )?;
                let out = stage.dir().join(SQUASH_FILE);
                let b = build_from_image(
                    &img,
                    &mut access,
                    &stage.scratch(),
                    &out,
                    src.str("format_options"),
                    env.cache_dir,
                    env.progress,
                )?;
                work.built(stage, SQUASH_FILE, DOCKER_DIGEST_FILE, &want, &b)?;
                work.report.platform = img.platform.clone();
                base_changed = true;
                out
            }
        }
    };
    let Some(ovl) = src.str("docker_ovl_digest").map(String::from) else {
        return Ok(());
    };
    work.report.digest = Some(ovl.clone());
    if !base_changed && digest_file_is(dir, OVL_FILE, OVL_DIGEST_FILE, Some(&ovl)) {
        env.progress
            .event(ProgressEvent::Step("root.ovl.squashfs: already up to date"));
        return Ok(());
    }
    let (img, mut access) = resolve_pinned(
        env,
        &ovl,
        src.track_ref(),
        platform.as_deref(),
        source_list,
        reg,
        &mut prefetched,
    )?;
    let b = build_overlay(
        &img,
        &mut access,
        &base_squash,
        &stage.scratch(),
        &stage.dir().join(OVL_FILE),
        src.str("format_options"),
        env.cache_dir,
        env.progress,
    )?;
    work.built(stage, OVL_FILE, OVL_DIGEST_FILE, &ovl, &b)?;
    work.report.platform = img.platform.clone();
    Ok(())
}

/// Rootfs apps: rebuild from `rootfs_url` when forced, when root.squashfs is
/// missing or when its digest file does not match `rootfs_digest`.
pub(crate) fn install_rootfs(
    env: &AppEnv<'_>,
    work: &mut Work,
    stage: &Staging,
    dir: &Path,
    src: &mut Source,
    force: bool,
) -> Result<()> {
    let want = src.str("rootfs_digest").map(String::from);
    work.report.digest = want.clone();
    if !force && digest_file_is(dir, SQUASH_FILE, ROOTFS_DIGEST_FILE, want.as_deref()) {
        return Ok(());
    }
    let from = src
        .str("rootfs_url")
        .ok_or(AppError::MissingFrom)?
        .to_string();
    let spec = classify(&from, Some(SourceType::Rootfs))?;
    let b = build_from_rootfs(
        &spec,
        &stage.scratch(),
        &stage.dir().join(SQUASH_FILE),
        src.str("format_options"),
        env.progress,
    )?;
    let digest = format!("sha256:{}", b.sha256);
    work.built(stage, SQUASH_FILE, ROOTFS_DIGEST_FILE, &digest, &b)?;
    src.set_str("rootfs_digest", Some(&digest));
    work.report.digest = Some(digest);
    Ok(())
}

/// Render run.json and lxc.container.conf into the stage.
pub(crate) fn render(
    env: &AppEnv<'_>,
    work: &mut Work,
    stage: &Staging,
    name: &str,
    src: &Source,
) -> Result<()> {
    let (input, notes) = prepare(name, src, env.pristine);
    work.report.messages.extend(notes.messages);
    work.report.warnings.extend(notes.warnings);
    if src.object("dm_enabled").is_some_and(|m| !m.is_empty()) {
        work.report.warnings.push(format!(
            "dm_enabled is set: run 'pvr dm-apply {name}' to refresh the dm-verity data"
        ));
    }
    match render_lxc_conf(&input) {
        Some(conf) => work.write(stage, LXC_FILE, conf.as_bytes())?,
        None => work.remove.push(LXC_FILE),
    }
    work.write(stage, RUN_FILE, render_run_json(&input).as_bytes())?;
    Ok(())
}
