//! A resolved container image (digest, config, layers), the manifest walk
//! shared by OCI layouts and registries, and layer stream decoding.

use std::io::{self, BufRead, BufReader, Read};

use oci_spec::image::{ImageIndex, ImageManifest};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::{AppError, Result};
use crate::platform::{select, Candidate};

/// One layer of an image.
#[derive(Debug, Clone)]
pub struct LayerDesc {
    /// `sha256:<hex>` of the (compressed) blob, when known.
    pub digest: Option<String>,
    pub size: Option<u64>,
    /// Member path for stores that name layers by path (`docker save`).
    pub member: Option<String>,
}

/// An image ready to be unpacked.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// The image's manifest digest (`sha256:<hex>`); for a legacy
    /// `docker save` archive without manifests, the image id (config digest).
    pub digest: String,
    /// The `config` object of the image configuration (pvr's `docker_config`).
    pub config: Map<String, Value>,
    /// The configured platform that selected this image from a list.
    pub platform: Option<String>,
    pub layers: Vec<LayerDesc>,
}

/// Something that hands out manifests and small blobs by digest, verified.
pub trait ManifestSource {
    fn label(&self) -> String;
    fn manifest(&mut self, digest: &str) -> Result<Vec<u8>>;
    fn small_blob(&mut self, digest: &str) -> Result<Vec<u8>>;
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Fail unless `bytes` have `digest`.
pub fn verify(what: &str, digest: &str, bytes: &[u8]) -> Result<()> {
    let actual = sha256_digest(bytes);
    if actual != digest {
        return Err(AppError::DigestMismatch {
            what: what.to_string(),
            expected: digest.to_string(),
            actual,
        });
    }
    Ok(())
}

fn is_index(v: &Value) -> bool {
    v.get("manifests").is_some()
        || v.get("mediaType").and_then(Value::as_str).is_some_and(|m| {
            m.ends_with("image.index.v1+json") || m.ends_with("manifest.list.v2+json")
        })
}

/// Resolve manifest `bytes` (whose digest is `digest`): pick a platform
/// from an index, then read the config and the layer list.
pub fn resolve_manifest(
    src: &mut dyn ManifestSource,
    bytes: Vec<u8>,
    digest: String,
    platforms: &[String],
) -> Result<ResolvedImage> {
    let mut bytes = bytes;
    let mut digest = digest;
    let mut platform = None;
    for _ in 0..4 {
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| AppError::image(src.label(), format!("manifest {digest}: {e}")))?;
        if v.get("schemaVersion").and_then(Value::as_u64) == Some(1) {
            return Err(AppError::image(
                src.label(),
                "docker schema 1 manifests are not supported",
            ));
        }
        if !is_index(&v) {
            return resolve_image_manifest(src, &bytes, digest, platform);
        }
        let index = ImageIndex::from_reader(&bytes[..])
            .map_err(|e| AppError::image(src.label(), format!("index {digest}: {e}")))?;
        let cands: Vec<Candidate> = index
            .manifests()
            .iter()
            .map(|d| match d.platform() {
                Some(p) => Candidate {
                    os: p.os().to_string(),
                    arch: p.architecture().to_string(),
                    variant: p.variant().clone(),
                },
                None => Candidate {
                    os: String::new(),
                    arch: String::new(),
                    variant: None,
                },
            })
            .collect();
        let (i, matched) = select(&cands, platforms)
            .ok_or_else(|| AppError::image(src.label(), format!("index {digest} is empty")))?;
        platform = matched;
        digest = index.manifests()[i].digest().to_string();
        bytes = src.manifest(&digest)?;
    }
    Err(AppError::image(src.label(), "indexes nested too deeply"))
}

fn resolve_image_manifest(
    src: &mut dyn ManifestSource,
    bytes: &[u8],
    digest: String,
    platform: Option<String>,
) -> Result<ResolvedImage> {
    let m = ImageManifest::from_reader(bytes)
        .map_err(|e| AppError::image(src.label(), format!("manifest {digest}: {e}")))?;
    let cfg_digest = m.config().digest().to_string();
    let cfg = src.small_blob(&cfg_digest)?;
    let config = config_object(&cfg).map_err(|e| AppError::image(src.label(), e))?;
    let layers = m
        .layers()
        .iter()
        .map(|l| LayerDesc {
            digest: Some(l.digest().to_string()),
            size: Some(l.size()),
            member: None,
        })
        .collect();
    Ok(ResolvedImage {
        digest,
        config,
        platform,
        layers,
    })
}

/// The `config` member of an image configuration blob (`{}` if absent).
pub fn config_object(bytes: &[u8]) -> std::result::Result<Map<String, Value>, String> {
    let v = pv_json::parse(bytes).map_err(|e| format!("image config: {e}"))?;
    match v.get("config") {
        Some(Value::Object(m)) => Ok(m.clone()),
        None | Some(Value::Null) => Ok(Map::new()),
        Some(_) => Err("image config: config is not an object".into()),
    }
}

/// Wrap a layer blob stream in the right decompressor (gzip, zstd or none),
/// chosen from its first bytes.
pub fn decompress(r: Box<dyn Read + Send>) -> io::Result<Box<dyn Read + Send>> {
    let mut br = BufReader::with_capacity(1 << 16, r);
    let head = br.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(br)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let d = ruzstd::decoding::StreamingDecoder::new(br)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        Ok(Box::new(d))
    } else {
        Ok(Box::new(br))
    }
}

/// A reader that checks the sha256 of everything read when it hits EOF.
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Sha256,
    expected: String,
    done: bool,
}

impl<R: Read> VerifyingReader<R> {
    pub fn new(inner: R, expected: &str) -> Self {
        VerifyingReader {
            inner,
            hasher: Sha256::new(),
            expected: expected.to_string(),
            done: false,
        }
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() && !self.done {
            self.done = true;
            let actual = format!("sha256:{}", hex::encode(self.hasher.clone().finalize()));
            if actual != self.expected {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("digest mismatch: expected {}, got {actual}", self.expected),
                ));
            }
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
