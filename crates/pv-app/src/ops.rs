//! `pvr app add`, `update` and `install`.

use std::path::{Path, PathBuf};

use pv_types::State;
use serde_json::{Map, Value};

use crate::error::{AppError, Result};
use crate::image::ResolvedImage;
use crate::install::{install_docker, install_rootfs, render, Work};
use crate::options::{
    validate_source_list, AppAddOptions, AppInstallOptions, AppReport, AppUpdateOptions, Progress,
    ProgressEvent, SourceType, DEFAULT_SOURCE,
};
use crate::overlay::{OVL_DIGEST_FILE, OVL_FILE};
use crate::platform::configured_platforms;
use crate::reference::split_name_tag;
use crate::source::{classify, resolve_image, FromSpec};
use crate::src_json::{Source, SRC_FILE};
use crate::staging::Staging;

/// Where an operation runs.
pub struct AppEnv<'a> {
    /// The checkout (working tree) root.
    pub checkout: &'a Path,
    /// The committed state (default group, `_hostconfig/pvr/docker.json`).
    pub pristine: &'a State,
    /// `$PVR_CONFIG_DIR/cache`: downloaded layers, `<digest>.tar.gz`.
    pub cache_dir: &'a Path,
    pub progress: &'a dyn Progress,
}

/// Trim `/` from both ends and check the name is a clean relative path.
pub fn app_dir(checkout: &Path, name: &str) -> Result<(String, PathBuf)> {
    let name = name.trim_matches('/').to_string();
    if name.is_empty() {
        return Err(AppError::EmptyName);
    }
    pv_fs::validate_rel_path(&name).map_err(|source| AppError::BadName {
        name: name.clone(),
        source,
    })?;
    let dir = checkout.join(&name);
    Ok((name, dir))
}

/// `pvr app add <name> --from …`.
pub fn app_add(env: &AppEnv<'_>, name: &str, opts: &AppAddOptions) -> Result<AppReport> {
    let source_list = opts.source.as_deref().unwrap_or(DEFAULT_SOURCE);
    validate_source_list(source_list)?;
    let from = opts
        .from
        .as_deref()
        .filter(|f| !f.is_empty())
        .ok_or(AppError::MissingFrom)?;
    if opts.group.is_some() && opts.runlevel.is_some() {
        return Err(AppError::GroupAndRunlevel);
    }
    let (name, dir) = app_dir(env.checkout, name)?;
    if opts.source_type == Some(SourceType::Pvr) {
        return Err(AppError::PvrTypeUnsupported);
    }
    if dir.exists() {
        // Like the original: an existing app keeps its src.json and is reinstalled.
        let o = AppInstallOptions {
            registry: opts.registry.clone(),
            source_type: opts.source_type,
            ..Default::default()
        };
        return app_install(env, &name, &o);
    }
    let mut src = Source::new();
    src.set_object("args", template_args(opts));
    let persistence = parse_volumes(&opts.volumes)?;
    if !persistence.is_empty() {
        src.set_object("persistence", persistence);
    }
    src.set_str("format_options", opts.format_options.as_deref());
    let extra_config = match &opts.config_json {
        Some(p) => read_config_json(p)?,
        None => Map::new(),
    };
    env.progress.event(ProgressEvent::Step("resolving"));
    let spec = classify(from, opts.source_type)?;
    let stage = Staging::new(&dir)?;
    let mut work = Work::new(&name);
    if spec.is_rootfs() {
        src.set_str("rootfs_url", Some(from));
        src.set_object("docker_config", extra_config);
        install_rootfs(env, &mut work, &stage, &dir, &mut src, true)?;
    } else {
        src.set_str("docker_source", Some(source_list));
        let platforms = configured_platforms(opts.platform.as_deref(), env.pristine);
        let (mut img, access) =
            resolve_image(&spec, None, &platforms, source_list, &opts.registry)?;
        for (k, v) in extra_config {
            img.config.insert(k, v);
        }
        let base = opts.base.as_deref().map(|b| b.trim_matches('/'));
        if let Some(b) = base {
            let (b, bdir) = app_dir(env.checkout, b)?;
            let bsrc = read_src(&bdir, &b)?;
            src.set_str("base", Some(&b));
            src.set_str("docker_digest", bsrc.str("docker_digest"));
        }
        record_image(&mut src, from, &spec, &img, base.is_some());
        install_docker(
            env,
            &mut work,
            &stage,
            &dir,
            &mut src,
            source_list,
            &opts.registry,
            Some((img, access)),
        )?;
    }
    work.write(&stage, SRC_FILE, &src.to_go_bytes())?;
    render(env, &mut work, &stage, &name, &src)?;
    stage.commit_new(&dir)?;
    Ok(work.report)
}

/// `pvr app update <name>`: re-resolve, rewrite src.json, reinstall.
/// `--patch` (or an app that already has an overlay) updates
/// `root.ovl.squashfs`; `--base B` puts the app on app `B`; `--newbase`
/// drops the overlay and rebuilds `root.squashfs` from the image.
pub fn app_update(env: &AppEnv<'_>, name: &str, opts: &AppUpdateOptions) -> Result<AppReport> {
    let (name, dir) = app_dir(env.checkout, name)?;
    let mut src = read_src(&dir, &name)?;
    let ty = opts.source_type.unwrap_or_else(|| type_of(&src));
    if ty == SourceType::Pvr {
        return Err(AppError::PvrTypeUnsupported);
    }
    let stage = Staging::new(&dir)?;
    let mut work = Work::new(&name);
    if ty == SourceType::Rootfs {
        if let Some(f) = &opts.from {
            src.set_str("rootfs_url", Some(f));
        }
        install_rootfs(env, &mut work, &stage, &dir, &mut src, true)?;
    } else {
        let source_list = opts
            .source
            .clone()
            .or_else(|| src.str("docker_source").map(String::from))
            .unwrap_or_else(|| DEFAULT_SOURCE.into());
        validate_source_list(&source_list)?;
        let from = match &opts.from {
            Some(f) => f.clone(),
            None => src.track_ref().ok_or_else(|| AppError::BadSrcJson {
                path: dir.join(SRC_FILE),
                msg: "no docker_name in manifest".into(),
            })?,
        };
        let platform = opts
            .platform
            .clone()
            .or_else(|| src.str("docker_platform").map(String::from));
        let platforms = configured_platforms(platform.as_deref(), env.pristine);
        env.progress.event(ProgressEvent::Step("resolving"));
        let spec = classify(&from, Some(SourceType::Docker))?;
        let (img, access) = resolve_image(&spec, None, &platforms, &source_list, &opts.registry)?;
        if opts.newbase {
            src.remove("base");
            src.remove("docker_ovl_digest");
            work.remove.extend([OVL_FILE, OVL_DIGEST_FILE]);
        }
        if let Some(b) = opts.base.as_deref().filter(|_| !opts.newbase) {
            let (b, bdir) = app_dir(env.checkout, b)?;
            let bsrc = read_src(&bdir, &b)?;
            src.set_str("base", Some(&b));
            src.set_str("docker_digest", bsrc.str("docker_digest"));
        }
        let ovl = !opts.newbase
            && (opts.patch || src.str("base").is_some() || src.str("docker_ovl_digest").is_some());
        record_image(&mut src, &from, &spec, &img, ovl);
        src.set_str("docker_source", Some(&source_list));
        install_docker(
            env,
            &mut work,
            &stage,
            &dir,
            &mut src,
            &source_list,
            &opts.registry,
            Some((img, access)),
        )?;
    }
    work.write(&stage, SRC_FILE, &src.to_go_bytes())?;
    render(env, &mut work, &stage, &name, &src)?;
    stage.commit_into(&dir, &work.remove)?;
    Ok(work.report)
}

/// `pvr app install <name>`: render the templates again and rebuild the
/// squashfs files whose digest file does not match src.json.
pub fn app_install(env: &AppEnv<'_>, name: &str, opts: &AppInstallOptions) -> Result<AppReport> {
    let (name, dir) = app_dir(env.checkout, name)?;
    let mut src = read_src(&dir, &name)?;
    let ty = opts.source_type.unwrap_or_else(|| type_of(&src));
    if ty == SourceType::Pvr {
        return Err(AppError::PvrTypeUnsupported);
    }
    let before = src.clone();
    if let Some(r) = opts.runlevel.as_deref().filter(|r| !r.is_empty()) {
        let mut args = src.args();
        args.insert("PV_RUNLEVEL".into(), r.into());
        src.set_object("args", args);
    }
    if let Some(b) = opts.base.as_deref() {
        let (b, _) = app_dir(env.checkout, b)?;
        src.set_str("base", Some(&b));
    }
    let stage = Staging::new(&dir)?;
    let mut work = Work::new(&name);
    if ty == SourceType::Rootfs {
        install_rootfs(env, &mut work, &stage, &dir, &mut src, false)?;
    } else {
        let source_list = opts
            .source
            .clone()
            .or_else(|| src.str("docker_source").map(String::from))
            .unwrap_or_else(|| DEFAULT_SOURCE.into());
        validate_source_list(&source_list)?;
        if src.object("docker_config").is_none() {
            // src.json from an old pvr: take the config from the image.
            let from = src.track_ref().ok_or_else(|| AppError::BadSrcJson {
                path: dir.join(SRC_FILE),
                msg: "no docker_name in manifest".into(),
            })?;
            let spec = classify(&from, Some(SourceType::Docker))?;
            let platforms = configured_platforms(src.str("docker_platform"), env.pristine);
            let (img, _) = resolve_image(&spec, None, &platforms, &source_list, &opts.registry)?;
            src.set_object("docker_config", img.config);
        }
        install_docker(
            env,
            &mut work,
            &stage,
            &dir,
            &mut src,
            &source_list,
            &opts.registry,
            None,
        )?;
    }
    if src != before {
        work.write(&stage, SRC_FILE, &src.to_go_bytes())?;
    }
    render(env, &mut work, &stage, &name, &src)?;
    stage.commit_into(&dir, &work.remove)?;
    Ok(work.report)
}

pub(crate) fn read_src(dir: &Path, name: &str) -> Result<Source> {
    if !dir.join(SRC_FILE).is_file() {
        return Err(AppError::NotFound(name.to_string()));
    }
    Source::read(dir)
}

/// The type an existing app was made with.
fn type_of(src: &Source) -> SourceType {
    if src.str("pvr").is_some() {
        SourceType::Pvr
    } else if src.str("rootfs_url").is_some() {
        SourceType::Rootfs
    } else {
        SourceType::Docker
    }
}

/// A `--arg` value: a JSON array (e.g. `PV_ROLES=["mgmt"]`, which the
/// template needs as an array) is taken as JSON; anything else is a string.
fn arg_value(v: &str) -> Value {
    if v.trim_start().starts_with('[') {
        if let Ok(parsed @ Value::Array(_)) = pv_json::parse(v.as_bytes()) {
            return parsed;
        }
    }
    v.into()
}

/// `--arg`, then `--group`, `--runlevel`, `--restart-policy`, `--status-goal`.
fn template_args(opts: &AppAddOptions) -> Map<String, Value> {
    let mut args = Map::new();
    for a in &opts.args {
        let (k, v) = a.split_once('=').unwrap_or((a.as_str(), ""));
        args.insert(k.to_string(), arg_value(v));
    }
    for (key, v) in [
        ("PV_GROUP", &opts.group),
        ("PV_RUNLEVEL", &opts.runlevel),
        ("PV_RESTART_POLICY", &opts.restart_policy),
        ("PV_STATUS_GOAL", &opts.status_goal),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            args.insert(key.into(), v.into());
        }
    }
    args
}

/// `--volume PATH:PERSISTENCE[@DISK]`, split at the last `:` so that
/// `ovl:/tmp:permanent` keeps its `ovl:` scheme.
pub fn parse_volumes(volumes: &[String]) -> Result<Map<String, Value>> {
    let mut m = Map::new();
    for v in volumes {
        let (path, persistence) = v
            .rsplit_once(':')
            .filter(|(p, x)| !p.is_empty() && !x.is_empty())
            .ok_or_else(|| AppError::BadVolume(v.clone()))?;
        m.insert(path.to_string(), persistence.into());
    }
    Ok(m)
}

fn read_config_json(p: &Path) -> Result<Map<String, Value>> {
    let bytes = std::fs::read(p).map_err(|e| pv_fs::FsError::new("read", p, e))?;
    let bad = |msg: String| AppError::BadJson {
        path: p.to_path_buf(),
        msg,
    };
    match pv_json::parse(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(bad("not a JSON object".into())),
        Err(e) => Err(bad(e.to_string())),
    }
}

/// docker_name/tag, the digest (`docker_digest`, or `docker_ovl_digest`
/// for an overlay), config and platform of a freshly resolved image.
fn record_image(src: &mut Source, from: &str, spec: &FromSpec, img: &ResolvedImage, ovl: bool) {
    let (name, tag) = split_name_tag(from);
    src.set_str("docker_name", Some(&name));
    src.set_str("docker_tag", tag.as_deref());
    let location = match spec {
        FromSpec::Registry(r) => r.name.clone(),
        _ => name.split('@').next().unwrap_or(&name).to_string(),
    };
    let key = if ovl {
        "docker_ovl_digest"
    } else {
        "docker_digest"
    };
    src.set_str(key, Some(&format!("{location}@{}", img.digest)));
    src.set_object("docker_config", img.config.clone());
    src.set_str("docker_platform", img.platform.as_deref());
}

#[cfg(test)]
mod arg_tests {
    #[test]
    fn array_args_are_json() {
        assert_eq!(super::arg_value(r#"["mgmt"]"#), serde_json::json!(["mgmt"]));
        assert_eq!(super::arg_value("plain"), serde_json::json!("plain"));
        assert_eq!(
            super::arg_value("[not json"),
            serde_json::json!("[not json")
        );
    }
}
