//! From an image or a rootfs source to a `root.squashfs` file.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use pv_fs::IoResultExt;

use crate::blobstore::BlobStore;
use crate::error::{AppError, Result};
use crate::image::{decompress, ResolvedImage, VerifyingReader};
use crate::layers::Extractor;
use crate::options::{Progress, ProgressEvent};
use crate::overlay::{unsquash, OverlayDiff};
use crate::registry::cached_blob_ok;
use crate::source::{FromSpec, ImageAccess};
use crate::squashfs;

/// A built squashfs: hex sha256 and size.
#[derive(Debug, Clone)]
pub struct Built {
    pub sha256: String,
    pub size: u64,
}

/// Squash the tree `rootfs` into `out`, with mksquashfs pseudo definitions
/// `pseudo` (ownership and device nodes an unprivileged run could not set).
pub fn squash_tree(
    rootfs: &Path,
    pseudo: &[String],
    scratch: &Path,
    out: &Path,
    format_options: Option<&str>,
    progress: &dyn Progress,
) -> Result<Built> {
    let mut pseudo_path = None;
    if !pseudo.is_empty() {
        let p = scratch.join("pseudo");
        pv_fs::write_atomic(&p, (pseudo.join("\n") + "\n").as_bytes())?;
        pseudo_path = Some(p);
    }
    progress.event(ProgressEvent::Step("generating squashfs"));
    squashfs::build(rootfs, out, format_options, pseudo_path.as_deref())?;
    let id = pv_objects::hash_file(out)?;
    let size = fs::metadata(out).at("stat", out)?.len();
    Ok(Built {
        sha256: id.to_hex(),
        size,
    })
}

/// Unpack `img`'s layers into `<scratch>/rootfs`; returns the tree and the
/// pseudo definitions it needs.
pub fn unpack_image(
    img: &ResolvedImage,
    access: &mut ImageAccess,
    scratch: &Path,
    cache_dir: &Path,
    progress: &dyn Progress,
) -> Result<(PathBuf, Vec<String>)> {
    let rootfs = scratch.join("rootfs");
    fs::create_dir_all(&rootfs).at("create directory", &rootfs)?;
    let mut ex = Extractor::new(&rootfs);
    let n = img.layers.len();
    for (i, layer) in img.layers.iter().enumerate() {
        let label = layer
            .digest
            .clone()
            .or_else(|| layer.member.clone())
            .unwrap_or_else(|| format!("#{i}"));
        progress.event(ProgressEvent::Step(&format!("layer {}/{n} {label}", i + 1)));
        let raw: Box<dyn Read + Send> = match access {
            ImageAccess::Store(store) => {
                open_store_layer(store, layer.member.as_deref(), layer.digest.as_deref())?
            }
            ImageAccess::Registry(reg) => {
                let digest = layer
                    .digest
                    .as_deref()
                    .ok_or_else(|| AppError::layer(&label, "registry layer without digest"))?;
                let cached = match fs::create_dir_all(cache_dir) {
                    Ok(()) => cache_dir.join(format!("{digest}.tar.gz")),
                    Err(_) => scratch.join(format!("{digest}.tar.gz")),
                };
                if !cached_blob_ok(&cached, digest) {
                    reg.download_blob(digest, layer.size, &cached, progress)?;
                }
                Box::new(File::open(&cached).at("open", &cached)?)
            }
        };
        let reader = decompress(raw).map_err(|e| AppError::layer(&label, e))?;
        ex.apply_layer(reader, &label)?;
    }
    let pseudo = ex.finish(true)?;
    Ok((rootfs, pseudo))
}

/// Unpack `img`'s layers under `scratch` and squash them into `out`.
pub fn build_from_image(
    img: &ResolvedImage,
    access: &mut ImageAccess,
    scratch: &Path,
    out: &Path,
    format_options: Option<&str>,
    cache_dir: &Path,
    progress: &dyn Progress,
) -> Result<Built> {
    let (rootfs, pseudo) = unpack_image(img, access, scratch, cache_dir, progress)?;
    let built = squash_tree(&rootfs, &pseudo, scratch, out, format_options, progress)?;
    remove_tree(&rootfs);
    Ok(built)
}

/// Unpack `img` and squash only what differs from the squashfs `base`
/// (with whiteouts for what it removes) into `out`.
#[allow(clippy::too_many_arguments)]
pub fn build_overlay(
    img: &ResolvedImage,
    access: &mut ImageAccess,
    base: &Path,
    scratch: &Path,
    out: &Path,
    format_options: Option<&str>,
    cache_dir: &Path,
    progress: &dyn Progress,
) -> Result<Built> {
    let (rootfs, _) = unpack_image(img, access, scratch, cache_dir, progress)?;
    progress.event(ProgressEvent::Step("unpacking base squashfs"));
    let base_tree = scratch.join("base");
    unsquash(base, &base_tree)?;
    let ovl = scratch.join("ovl");
    let mut diff = OverlayDiff::new(&rootfs, &base_tree, &ovl);
    diff.run()?;
    remove_tree(&rootfs);
    remove_tree(&base_tree);
    let built = squash_tree(&ovl, &diff.pseudo, scratch, out, format_options, progress)?;
    remove_tree(&ovl);
    Ok(built)
}

fn open_store_layer(
    store: &BlobStore,
    member: Option<&str>,
    digest: Option<&str>,
) -> Result<Box<dyn Read + Send>> {
    match (member, digest) {
        (Some(m), _) => Ok(store.open(m)?.0),
        (None, Some(d)) => {
            let (r, _) = store.open(&BlobStore::blob_path(d)?)?;
            Ok(Box::new(VerifyingReader::new(r, d)))
        }
        (None, None) => Err(AppError::layer(store.describe(), "layer without digest")),
    }
}

/// Squash a rootfs directory, tarball or URL into `out`. A directory is
/// squashed as it is; a tarball is unpacked under `scratch` first.
pub fn build_from_rootfs(
    from: &FromSpec,
    scratch: &Path,
    out: &Path,
    format_options: Option<&str>,
    progress: &dyn Progress,
) -> Result<Built> {
    let tarball = match from {
        FromSpec::RootfsDir(dir) => {
            return squash_tree(dir, &[], scratch, out, format_options, progress)
        }
        FromSpec::RootfsTar(p) => p.clone(),
        FromSpec::RootfsUrl(url) => {
            let p = scratch.join("rootfs-download");
            download(url, &p, progress)?;
            p
        }
        other => return Err(AppError::image(format!("{other:?}"), "not a rootfs")),
    };
    let label = tarball.display().to_string();
    let f = File::open(&tarball).at("open", &tarball)?;
    let reader = decompress(Box::new(f)).map_err(|e| AppError::layer(&label, e))?;
    let rootfs = scratch.join("rootfs");
    fs::create_dir_all(&rootfs).at("create directory", &rootfs)?;
    let mut ex = Extractor::new(&rootfs);
    progress.event(ProgressEvent::Step("extracting rootfs"));
    ex.apply_layer(reader, &label)?;
    let pseudo = ex.finish(false)?;
    let built = squash_tree(&rootfs, &pseudo, scratch, out, format_options, progress)?;
    remove_tree(&rootfs);
    Ok(built)
}

fn download(url: &str, dest: &Path, progress: &dyn Progress) -> Result<()> {
    let err = |msg: String| AppError::Download {
        url: url.to_string(),
        msg,
    };
    progress.event(ProgressEvent::Step("downloading rootfs"));
    let client = reqwest::blocking::Client::builder()
        .timeout(None::<std::time::Duration>)
        .connect_timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| err(e.to_string()))?;
    let mut resp = client.get(url).send().map_err(|e| err(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(err(resp.status().to_string()));
    }
    let mut out = pv_fs::AtomicFile::create(dest)?;
    resp.copy_to(&mut out).map_err(|e| err(e.to_string()))?;
    out.commit()?;
    Ok(())
}

/// Remove a scratch tree; failures only leave scratch behind in a
/// directory that is removed as a whole anyway.
pub fn remove_tree(p: &Path) {
    if fs::remove_dir_all(p).is_ok() || !p.exists() {
        return;
    }
    // Unprivileged runs may have left read-only directories behind.
    fn open_up(p: &Path) {
        use std::os::unix::fs::PermissionsExt;
        if fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()) {
            let _ = fs::set_permissions(p, fs::Permissions::from_mode(0o700));
            for e in fs::read_dir(p).into_iter().flatten().flatten() {
                open_up(&e.path());
            }
        }
    }
    open_up(p);
    let _ = fs::remove_dir_all(p);
}
