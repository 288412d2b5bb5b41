//! Blob bytes in an `object_store`, keyed by content sha (`blobs/<sha>`),
//! so one upload serves every owner's record of the same content.
//!
//! An upload is hashed while it streams into storage, and made visible only
//! when length and sha256 match; otherwise nothing is left behind. In a
//! local directory the bytes go to a temp file beside the blob (`pv_fs`:
//! writeback started as it grows, fsync, rename, directory fsync before the
//! upload is answered); in an object store to a multipart upload, completed
//! (atomically, by the store) or aborted.

mod download;
mod upload;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::prefix::PrefixStore;
use object_store::{GetOptions, GetRange, GetResultPayload, ObjectStore, WriteMultipart};
use pv_fs::FsError;

use crate::{Result, StoreError};
use upload::{FileTask, HashTask, Sink};

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
    #[error("{0}")]
    File(#[from] FsError),
    #[error("{0:?} is not a sha256")]
    Name(String),
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
    /// The `blobs` directory when the store is a local directory: uploads
    /// are written there directly (object_store's local multipart upload
    /// copies every byte once more and never fsyncs).
    local: Option<Arc<PathBuf>>,
}

fn path_of(sha: &str) -> ObjPath {
    ObjPath::from(format!("blobs/{sha}"))
}

impl Blobs {
    /// Blobs in a local directory (created if needed). Temp files of
    /// uploads interrupted by a crash (`pv_fs` temp names, and object_store's
    /// `<sha>#<n>` of earlier versions) are removed.
    pub fn local(dir: &Path) -> Result<Self> {
        let io = |source| StoreError::Io {
            path: dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir.join("blobs")).map_err(io)?;
        if let Ok(rd) = std::fs::read_dir(dir.join("blobs")) {
            for e in rd.flatten() {
                let name = e.file_name();
                let name = name.to_string_lossy();
                if name.contains('#') || pv_fs::is_temp_name(&name) {
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
            local: Some(Arc::new(dir.join("blobs"))),
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
        Ok(Blobs { store, local: None })
    }

    /// Any object store (S3-compatible, memory…).
    pub fn from_store(store: Arc<dyn ObjectStore>) -> Self {
        Blobs { store, local: None }
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
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BlobError::Name(sha.into()));
        }
        let exists = self.size(sha).await? == Some(size);
        let mut sink = match &self.local {
            _ if exists => Sink::Verify,
            Some(dir) => Sink::File(FileTask::spawn(dir.join(sha))),
            None => {
                let up = self.store.put_multipart(&path_of(sha)).await?;
                Sink::Multipart(WriteMultipart::new_with_chunk_size(up, 8 << 20))
            }
        };
        let hash = HashTask::spawn();
        let fed = upload::feed(body, size, &hash, &mut sink).await;
        let verified = match (fed, hash.finish().await) {
            (Err(e), _) | (Ok(()), Err(e)) => Err(e),
            (Ok(()), Ok(h)) => {
                let got = hex::encode(h);
                if got == sha {
                    Ok(())
                } else {
                    Err(BlobError::Sha {
                        got,
                        want: sha.into(),
                    })
                }
            }
        };
        match (verified, sink) {
            (Ok(()), Sink::Verify) => Ok(()),
            (Ok(()), Sink::File(f)) => {
                let file = f.finish().await?;
                tokio::task::spawn_blocking(move || file.commit())
                    .await
                    .map_err(|e| BlobError::Body(format!("publishing the blob: {e}")))??;
                Ok(())
            }
            (Ok(()), Sink::Multipart(w)) => {
                w.finish().await?;
                Ok(())
            }
            (Err(e), Sink::Verify) => Err(e),
            (Err(e), Sink::File(f)) => Err(f.discard().await.map_or(e, BlobError::File)),
            (Err(e), Sink::Multipart(w)) => {
                let _ = w.abort().await;
                Err(e)
            }
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
                    GetResultPayload::File(file, path) => {
                        download::file_stream(file, path, range.clone())
                    }
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
