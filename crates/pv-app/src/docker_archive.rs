//! `docker save` tarballs. Newer Docker writes an OCI layout inside the
//! tarball (used when present, see [`crate::oci_layout`]); older ones only
//! have `manifest.json` (`[{"Config","RepoTags","Layers"}]`), handled here.

use serde::Deserialize;

use crate::blobstore::BlobStore;
use crate::error::{AppError, Result};
use crate::image::{config_object, sha256_digest, LayerDesc, ResolvedImage};
use crate::oci_layout;

#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

/// Resolve the image of a `docker save` tarball (by tag, or by a pinned
/// digest: a manifest digest of its OCI layout or the legacy image id).
pub fn resolve(
    store: &BlobStore,
    tag: Option<&str>,
    digest: Option<&str>,
    platforms: &[String],
) -> Result<ResolvedImage> {
    let label = store.describe();
    let legacy_id_pinned = match digest {
        Some(d) => legacy_entries(store)?
            .iter()
            .any(|e| config_digest(store, e).ok().as_deref() == Some(d)),
        None => false,
    };
    if store.exists("index.json") && store.exists("oci-layout") && !legacy_id_pinned {
        return oci_layout::resolve(store, tag, digest, platforms);
    }
    let entries = legacy_entries(store)?;
    let entry = match digest {
        Some(d) => entries
            .iter()
            .find(|e| config_digest(store, e).ok().as_deref() == Some(d)),
        None => entries.iter().find(|e| {
            let Some(tag) = tag else { return false };
            e.repo_tags
                .iter()
                .flatten()
                .any(|t| t.rsplit_once(':').is_some_and(|(_, x)| x == tag) || t == tag)
        }),
    };
    let entry = match entry {
        Some(e) => e,
        None if digest.is_none()
            && entries.len() == 1
            && (tag.is_none() || tag == Some("latest")) =>
        {
            &entries[0]
        }
        None => {
            return Err(AppError::image(
                &label,
                format!(
                    "no image {} in the archive",
                    digest.or(tag).unwrap_or("latest")
                ),
            ))
        }
    };
    let cfg = store.read(entry.config.trim_start_matches("./"))?;
    let config = config_object(&cfg).map_err(|e| AppError::image(&label, e))?;
    let layers = entry
        .layers
        .iter()
        .map(|l| LayerDesc {
            digest: None,
            size: None,
            member: Some(l.trim_start_matches("./").to_string()),
        })
        .collect();
    Ok(ResolvedImage {
        digest: sha256_digest(&cfg),
        config,
        platform: None,
        layers,
    })
}

fn legacy_entries(store: &BlobStore) -> Result<Vec<Entry>> {
    if !store.exists("manifest.json") {
        return Ok(vec![]);
    }
    let bytes = store.read("manifest.json")?;
    serde_json::from_slice(&bytes)
        .map_err(|e| AppError::image(store.describe(), format!("manifest.json: {e}")))
}

fn config_digest(store: &BlobStore, e: &Entry) -> Result<String> {
    Ok(sha256_digest(
        &store.read(e.config.trim_start_matches("./"))?,
    ))
}
