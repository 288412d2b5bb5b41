//! OCI image layouts (`oci-layout`, `index.json`, `blobs/sha256/…`), as a
//! directory or inside a tarball (`oci-archive`, newer `docker save`).

use oci_spec::image::ImageIndex;

use crate::blobstore::BlobStore;
use crate::error::{AppError, Result};
use crate::image::{resolve_manifest, verify, ManifestSource, ResolvedImage};

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";

impl ManifestSource for &BlobStore {
    fn label(&self) -> String {
        self.describe()
    }
    fn manifest(&mut self, digest: &str) -> Result<Vec<u8>> {
        self.small_blob(digest)
    }
    fn small_blob(&mut self, digest: &str) -> Result<Vec<u8>> {
        let bytes = self.read(&BlobStore::blob_path(digest)?)?;
        verify(
            &format!("{} blob {digest}", self.describe()),
            digest,
            &bytes,
        )?;
        Ok(bytes)
    }
}

/// Resolve the image of `store` named by `tag` (or pinned by `digest`).
/// Without a matching tag, a layout holding a single image (or asked for
/// `latest`) gives that image.
pub fn resolve(
    store: &BlobStore,
    tag: Option<&str>,
    digest: Option<&str>,
    platforms: &[String],
) -> Result<ResolvedImage> {
    let label = store.describe();
    let index = ImageIndex::from_reader(&store.read("index.json")?[..])
        .map_err(|e| AppError::image(&label, format!("index.json: {e}")))?;
    let mut src: &BlobStore = store;
    if let Some(d) = digest {
        let d = find_digest(&mut src, &index, d, 0)?
            .ok_or_else(|| AppError::image(&label, format!("no manifest {d} in the layout")))?;
        let bytes = src.manifest(&d)?;
        return resolve_manifest(&mut src, bytes, d, platforms);
    }
    let descs = index.manifests();
    let tagged: Vec<_> = descs
        .iter()
        .filter(|d| {
            let Some(tag) = tag else { return false };
            let ann = d.annotations().as_ref();
            ann.and_then(|a| a.get(REF_NAME))
                .is_some_and(|r| r == tag || r.rsplit_once(':').is_some_and(|(_, t)| t == tag))
                || ann
                    .and_then(|a| a.get(CONTAINERD_NAME))
                    .is_some_and(|r| r.rsplit_once(':').is_some_and(|(_, t)| t == tag))
        })
        .collect();
    let chosen = match (tagged.first(), descs.len()) {
        (Some(d), _) => *d,
        (None, 1) if tag.is_none() || tag == Some("latest") => &descs[0],
        (None, 0) => return Err(AppError::image(&label, "index.json lists no image")),
        (None, _) => {
            return Err(AppError::image(
                &label,
                format!(
                    "no image tagged {:?} in the layout",
                    tag.unwrap_or("latest")
                ),
            ))
        }
    };
    let d = chosen.digest().to_string();
    let bytes = src.manifest(&d)?;
    resolve_manifest(&mut src, bytes, d, platforms)
}

/// Find a manifest or index with `digest` among the descriptors of `index`
/// and of the indexes it lists.
fn find_digest(
    src: &mut &BlobStore,
    index: &ImageIndex,
    digest: &str,
    depth: usize,
) -> Result<Option<String>> {
    for d in index.manifests() {
        if d.digest().to_string() == digest {
            return Ok(Some(digest.to_string()));
        }
    }
    if depth > 3 {
        return Ok(None);
    }
    for d in index.manifests() {
        let mt = d.media_type().to_string();
        if mt.ends_with("image.index.v1+json") || mt.ends_with("manifest.list.v2+json") {
            let bytes = src.manifest(d.digest().as_ref())?;
            if let Ok(sub) = ImageIndex::from_reader(&bytes[..]) {
                if let Some(found) = find_digest(src, &sub, digest, depth + 1)? {
                    return Ok(Some(found));
                }
            }
        }
    }
    Ok(None)
}
