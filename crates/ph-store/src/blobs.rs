//! Blob bytes in an `object_store`, keyed by content sha (`blobs/<sha>`),
//! so one upload serves every owner's record of the same content.
//!
//! An upload streams into a multipart upload while hashing; it is completed
//! (made visible, atomically by the store) only when length and sha256
//! match, and aborted (nothing left behind) otherwise.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::prefix::PrefixStore;
use object_store::{GetOptions, GetRange, GetResultPayload, ObjectStore, WriteMultipart};
use sha2::{Digest, Sha256};

use crate::{Result, StoreError};

/// Why an upload was refused (nothing was stored).
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("body has {got} bytes, expected {want}")]
    Length { got: u64, want: u64 },
    #[error("sha256 of the body is {got}, expected {want}")]
    Sha { got: String, want: String },
    #[error("reading the request body: {0}")]
    Body(String),
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
}

/// A byte range asked of a download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobRange {
    Bounded(Range<u64>),
    From(u64),
    Suffix(u64),
}

/// An opened download.
pub struct BlobRead {
    /// Size of the whole blob.
    pub size: u64,
    /// The bytes served.
    pub range: Range<u64>,
    pub stream: BoxStream<'static, Result<Bytes, object_store::Error>>,
}

/// The blob store.
#[derive(Clone)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
}

fn path_of(sha: &str) -> ObjPath {
    ObjPath::from(format!("blobs/{sha}"))
}

impl Blobs {
    /// Blobs in a local directory (created if needed). Staging files of
    /// uploads interrupted by a crash (`<sha>#<n>`) are removed.
    pub fn local(dir: &Path) -> Result<Self> {
        let io = |source| StoreError::Io {
            path: dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir.join("blobs")).map_err(io)?;
        if let Ok(rd) = std::fs::read_dir(dir.join("blobs")) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().contains('#') {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let fs = LocalFileSystem::new_with_prefix(dir).map_err(|e| StoreError::Io {
            path: dir.display().to_string(),
            source: std::io::Error::other(e.to_string()),
        })?;
        Ok(Blobs {
            store: Arc::new(fs),
        })
    }

    /// Blobs in an S3-compatible bucket: `s3://bucket[/prefix]`, configured
    /// by the usual `AWS_*` environment (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`/`AWS_DEFAULT_REGION`,
    /// `AWS_ENDPOINT_URL` or `AWS_ENDPOINT` for a store other than AWS; an
    /// `http://` endpoint is allowed without `AWS_ALLOW_HTTP`).
    pub fn s3(url: &str) -> Result<Self> {
        let bad = |why: &str| StoreError::Objects(format!("{url:?}: {why}"));
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| bad("an object store URL starts with s3://"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("no bucket"));
        }
        let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .or_else(|_| std::env::var("AWS_ENDPOINT"))
            .ok();
        if let Some(e) = endpoint {
            b = b.with_allow_http(e.starts_with("http://")).with_endpoint(e);
        }
        let s3 = b.build().map_err(|e| bad(&e.to_string()))?;
        let prefix = prefix.trim_matches('/');
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(PrefixStore::new(s3, prefix))
        };
        Ok(Blobs { store })
    }

    /// Any object store (S3-compatible, memory…).
    pub fn from_store(store: Arc<dyn ObjectStore>) -> Self {
        Blobs { store }
    }

    /// The size of a stored blob, None if absent.
    pub async fn size(&self, sha: &str) -> Result<Option<u64>, object_store::Error> {
        match self.store.head(&path_of(sha)).await {
            Ok(m) => Ok(Some(m.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stream a body into the blob of `sha`, verifying that it has exactly
    /// `size` bytes and that sha. If the blob is already there the body is
    /// only verified (the uploader proves it has the bytes).
    pub async fn put_verified<S, E>(&self, sha: &str, size: u64, body: S) -> Result<(), BlobError>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let exists = self.size(sha).await? == Some(size);
        let mut writer = if exists {
            None
        } else {
            let up = self.store.put_multipart(&path_of(sha)).await?;
            Some(WriteMultipart::new_with_chunk_size(up, 8 << 20))
        };
        let r = feed(body, size, &mut writer).await.and_then(|h| {
            let got = hex::encode(h);
            if got == sha {
                Ok(())
            } else {
                Err(BlobError::Sha {
                    got,
                    want: sha.into(),
                })
            }
        });
        match (r, writer) {
            (Ok(()), Some(w)) => {
                w.finish().await?;
                Ok(())
            }
            (Ok(()), None) => Ok(()),
            (Err(e), Some(w)) => {
                let _ = w.abort().await;
                Err(e)
            }
            (Err(e), None) => Err(e),
        }
    }

    /// Open a blob for reading, whole or a range; None if absent.
    pub async fn get(
        &self,
        sha: &str,
        range: Option<BlobRange>,
        head: bool,
    ) -> Result<Option<BlobRead>, object_store::Error> {
        let opts = GetOptions {
            range: range.map(|r| match r {
                BlobRange::Bounded(r) => GetRange::Bounded(r),
                BlobRange::From(o) => GetRange::Offset(o),
                BlobRange::Suffix(n) => GetRange::Suffix(n),
            }),
            head,
            ..Default::default()
        };
        match self.store.get_opts(&path_of(sha), opts).await {
            Ok(r) => {
                let size = r.meta.size;
                let range = r.range.clone();
                let stream = match r.payload {
                    _ if head => futures_util::stream::empty().boxed(),
                    GetResultPayload::File(file, path) => file_stream(file, path, range.clone()),
                    GetResultPayload::Stream(s) => s,
                };
                Ok(Some(BlobRead {
                    size,
                    range,
                    stream,
                }))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Remove a blob (absent is fine).
    pub async fn delete(&self, sha: &str) -> Result<(), object_store::Error> {
        match self.store.delete(&path_of(sha)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Bytes of a download read at a time from a local file.
const FILE_CHUNK: usize = 1 << 20;

/// Chunks queued between the reading thread and the response.
const FILE_CHUNKS_AHEAD: usize = 4;

/// Stream `range` of a local file in large chunks, read by one blocking
/// task ahead of the response (object_store's own local stream reads 8 KiB
/// per blocking call, which caps a download far below the disk and the
/// network). The task stops when the response is dropped.
fn file_stream(
    file: std::fs::File,
    path: std::path::PathBuf,
    range: Range<u64>,
) -> BoxStream<'static, Result<Bytes, object_store::Error>> {
    use std::os::unix::fs::FileExt;
    let (tx, rx) = tokio::sync::mpsc::channel(FILE_CHUNKS_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut at = range.start;
        while at < range.end {
            let n = (range.end - at).min(FILE_CHUNK as u64) as usize;
            let mut buf = vec![0u8; n];
            let chunk = match file.read_exact_at(&mut buf, at) {
                Ok(()) => Ok(Bytes::from(buf)),
                Err(e) => Err(object_store::Error::Generic {
                    store: "LocalFileSystem",
                    source: format!("{}: {e}", path.display()).into(),
                }),
            };
            let failed = chunk.is_err();
            if tx.blocking_send(chunk).is_err() || failed {
                return;
            }
            at += n as u64;
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move {
        let chunk = rx.recv().await?;
        Some((chunk, rx))
    })
    .boxed()
}

async fn feed<S, E>(
    mut body: S,
    size: u64,
    writer: &mut Option<WriteMultipart>,
) -> Result<[u8; 32], BlobError>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut hasher = Sha256::new();
    let mut got: u64 = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| BlobError::Body(e.to_string()))?;
        got += chunk.len() as u64;
        if got > size {
            return Err(BlobError::Length { got, want: size });
        }
        hasher.update(&chunk);
        if let Some(w) = writer.as_mut() {
            w.wait_for_capacity(4).await?;
            w.write(&chunk);
        }
    }
    if got != size {
        return Err(BlobError::Length { got, want: size });
    }
    Ok(hasher.finalize().into())
}
