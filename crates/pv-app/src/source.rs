//! What `--from` names, and getting the image or rootfs it names.
//!
//! * `oci:<dir>[:<tag>]`, or a directory holding `oci-layout`: an OCI layout;
//! * `docker-archive:<tar>[:<tag>]`, `oci-archive:<tar>[:<tag>]`, or an
//!   uncompressed tarball holding `manifest.json` or `oci-layout`: an image
//!   tarball (`docker save`, `skopeo copy … oci-archive:`);
//! * any other existing directory or tarball: a plain rootfs;
//! * `http://…`, `https://…`: a rootfs tarball to download;
//! * anything else: a registry reference `[host[:port]/]name[:tag][@digest]`.
//!
//! A local path may carry a `:<tag>` suffix (as `docker_name:docker_tag`
//! in src.json do) when the path without it exists.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::blobstore::{tar_is_image, BlobStore};
use crate::error::{AppError, Result};
use crate::image::ResolvedImage;
use crate::options::{RegistryOptions, SourceType};
use crate::reference::ImageRef;
use crate::registry::Registry;
use crate::{docker_archive, oci_layout};

/// A classified `--from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromSpec {
    Registry(ImageRef),
    OciLayout { path: PathBuf, tag: Option<String> },
    ImageTar { path: PathBuf, tag: Option<String> },
    RootfsDir(PathBuf),
    RootfsTar(PathBuf),
    RootfsUrl(String),
}

impl FromSpec {
    pub fn is_rootfs(&self) -> bool {
        matches!(
            self,
            FromSpec::RootfsDir(_) | FromSpec::RootfsTar(_) | FromSpec::RootfsUrl(_)
        )
    }
}

fn expand(p: &str) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME")
            .map(|h| Path::new(&h).join(rest))
            .unwrap_or_else(|| PathBuf::from(p)),
        None => PathBuf::from(p),
    }
}

/// `path[:tag]` where `path` exists.
fn split_path_tag(s: &str) -> Option<(PathBuf, Option<String>)> {
    let p = expand(s);
    if p.exists() {
        return Some((p, None));
    }
    let (path, tag) = s.rsplit_once(':')?;
    if tag.is_empty() || tag.contains('/') {
        return None;
    }
    let p = expand(path);
    p.exists().then(|| (p, Some(tag.to_string())))
}

fn compressed(path: &Path) -> bool {
    let mut head = [0u8; 6];
    let n = File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let h = &head[..n];
    h.starts_with(&[0x1f, 0x8b])
        || h.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || h.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0])
        || h.starts_with(b"BZh")
}

/// Classify `--from` for `--type` `ty` (`None`: docker, or rootfs for a
/// local path that is not an image).
pub fn classify(from: &str, ty: Option<SourceType>) -> Result<FromSpec> {
    let want_rootfs = ty == Some(SourceType::Rootfs);
    let want_image = ty == Some(SourceType::Docker);
    for (prefix, layout) in [
        ("oci:", true),
        ("docker-archive:", false),
        ("oci-archive:", false),
    ] {
        if let Some(rest) = from.strip_prefix(prefix) {
            let (path, tag) = split_path_tag(rest)
                .ok_or_else(|| AppError::image(from, "no such file or directory"))?;
            return Ok(if layout {
                FromSpec::OciLayout { path, tag }
            } else {
                FromSpec::ImageTar { path, tag }
            });
        }
    }
    if from.starts_with("http://") || from.starts_with("https://") {
        if want_image {
            return Err(AppError::image(
                from,
                "a URL can only be a rootfs tarball (--type rootfs)",
            ));
        }
        return Ok(FromSpec::RootfsUrl(from.to_string()));
    }
    // A bare word names a registry image (as in the original) unless it is
    // an image on disk or the type is rootfs: `--from busybox` with a
    // `busybox/` directory in the current directory still means the image.
    let bare = !from.contains('/') && !from.starts_with(['.', '~']);
    let local = split_path_tag(from)
        .filter(|(p, _)| !bare || want_rootfs || p.is_file() || p.join("oci-layout").is_file());
    if let Some((path, tag)) = local {
        let shown = path.display().to_string();
        if path.is_dir() {
            if !want_rootfs && path.join("oci-layout").is_file() {
                return Ok(FromSpec::OciLayout { path, tag });
            }
            if want_image {
                return Err(AppError::NotAnImage { path: shown });
            }
            return Ok(FromSpec::RootfsDir(path));
        }
        if !want_rootfs && !compressed(&path) {
            if let Ok(store) = BlobStore::open_tar(&path) {
                if tar_is_image(&store) {
                    return Ok(FromSpec::ImageTar { path, tag });
                }
            }
        }
        if want_image {
            return Err(AppError::NotAnImage { path: shown });
        }
        return Ok(FromSpec::RootfsTar(path));
    }
    if want_rootfs {
        return Err(AppError::image(from, "no such file or directory"));
    }
    Ok(FromSpec::Registry(ImageRef::parse(from)?))
}

/// Where to read layers from once an image is resolved.
pub enum ImageAccess {
    Registry(Box<Registry>),
    Store(BlobStore),
}

/// Resolve an image `from` (by its tag, or pinned to `digest`). Registry
/// references are tried in `--source` order: `remote` asks the registry;
/// `local` would ask a Docker daemon, which is not supported.
pub fn resolve_image(
    from: &FromSpec,
    digest: Option<&str>,
    platforms: &[String],
    source_list: &str,
    reg: &RegistryOptions,
) -> Result<(ResolvedImage, ImageAccess)> {
    match from {
        FromSpec::OciLayout { path, tag } => {
            let store = BlobStore::Dir(path.clone());
            let img = oci_layout::resolve(&store, tag.as_deref(), digest, platforms)?;
            Ok((img, ImageAccess::Store(store)))
        }
        FromSpec::ImageTar { path, tag } => {
            let store = BlobStore::open_tar(path)?;
            let img = docker_archive::resolve(&store, tag.as_deref(), digest, platforms)?;
            Ok((img, ImageAccess::Store(store)))
        }
        FromSpec::Registry(r) => {
            let mut r = r.clone();
            if let Some(d) = digest {
                r.digest = Some(d.to_string());
            }
            let mut last = None;
            for s in source_list.split(',') {
                if s != "remote" {
                    continue;
                }
                let mut client = Registry::new(&r, reg)?;
                match client.fetch_manifest(r.reference()) {
                    Ok((bytes, d)) => {
                        let img = crate::image::resolve_manifest(&mut client, bytes, d, platforms)?;
                        return Ok((img, ImageAccess::Registry(Box::new(client))));
                    }
                    Err(e @ AppError::Image { .. }) => last = Some(e),
                    Err(e) => return Err(e),
                }
            }
            Err(last.unwrap_or_else(|| AppError::LocalDockerUnsupported(r.name.clone())))
        }
        other => Err(AppError::image(
            format!("{other:?}"),
            "not a container image",
        )),
    }
}
