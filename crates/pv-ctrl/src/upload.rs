//! Request bodies: capped reads, draining, and object uploads streamed into
//! the pool directory while hashing.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body::Body;
use http_body_util::BodyExt;
use pv_types::ObjectId;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::error::ApiError;

/// Read and throw away the rest of a body.
pub(crate) async fn drain<B>(body: &mut B)
where
    B: Body<Data = Bytes> + Unpin,
{
    while let Some(Ok(_)) = body.frame().await {}
}

/// The whole body if it has at most `cap` bytes; `Ok(None)` if it is
/// longer (the rest is drained); `Err` if the client went away.
pub(crate) async fn read_capped<B>(body: &mut B, cap: usize) -> Result<Option<Vec<u8>>, ()>
where
    B: Body<Data = Bytes> + Unpin,
{
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ())?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > cap {
                drain(body).await;
                return Ok(None);
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(Some(out))
}

/// Outcome of an object upload.
#[derive(Debug)]
pub(crate) enum Received {
    /// The pool already holds a valid copy; the body was drained.
    Present,
    /// Stored and verified in `temp` (synced), to be renamed to its id.
    Stored { id: ObjectId, temp: PathBuf },
}

static UPLOADS: AtomicU64 = AtomicU64::new(0);

/// A temp name in the pool directory that the object store's janitor
/// recognises (`.pvtmp-`) and that can never be taken for an object.
pub(crate) fn temp_path(dir: &Path, name: &str) -> PathBuf {
    let n = UPLOADS.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".{name}.pvtmp-ctrl-{}-{n}", std::process::id()))
}

/// True if `<dir>/<id>` exists and hashes to `id`.
async fn present_and_valid(dir: &Path, id: ObjectId) -> bool {
    let path = dir.join(id.to_hex());
    tokio::task::spawn_blocking(move || pv_objects::hash_file(&path).is_ok_and(|h| h == id))
        .await
        .unwrap_or(false)
}

/// Receive `PUT /objects/<name>`. `id` is the parsed name (`None` if the
/// 64-character name is not a sha256). Errors: 507 when the file cannot be
/// written, 422 when the content does not hash to the name; nothing is left
/// behind in either case.
pub(crate) async fn receive_object<B>(
    body: &mut B,
    dir: &Path,
    name: &str,
    id: Option<ObjectId>,
) -> Result<Received, ApiError>
where
    B: Body<Data = Bytes> + Unpin,
{
    if let Some(id) = id {
        if present_and_valid(dir, id).await {
            drain(body).await;
            return Ok(Received::Present);
        }
    }
    let temp = temp_path(dir, name);
    let result = write_hashed(body, &temp).await;
    match result {
        Ok(actual) if Some(actual) == id => Ok(Received::Stored { id: actual, temp }),
        Ok(_) => {
            let _ = tokio::fs::remove_file(&temp).await;
            Err(ApiError::bad_checksum())
        }
        Err(e) => {
            let _ = tokio::fs::remove_file(&temp).await;
            Err(e)
        }
    }
}

/// Stream the body into a new file at `temp`, hashing it; sync it.
async fn write_hashed<B>(body: &mut B, temp: &Path) -> Result<ObjectId, ApiError>
where
    B: Body<Data = Bytes> + Unpin,
{
    let mut file = match tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(temp)
        .await
    {
        Ok(f) => Some(f),
        Err(e) => {
            tracing::warn!("pv-ctrl: cannot create {}: {e}", temp.display());
            None
        }
    };
    let mut hasher = Sha256::new();
    let mut failed = file.is_none();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(ApiError::internal("Upload error"));
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if failed {
            continue;
        }
        hasher.update(&data);
        if let Some(f) = file.as_mut() {
            if let Err(e) = f.write_all(&data).await {
                tracing::warn!("pv-ctrl: write {}: {e}", temp.display());
                failed = true;
            }
        }
    }
    let synced = match file.as_mut() {
        Some(f) if !failed => f.flush().await.is_ok() && f.sync_all().await.is_ok(),
        _ => false,
    };
    if failed || !synced {
        return Err(ApiError::no_space());
    }
    Ok(ObjectId::from_bytes(hasher.finalize().into()))
}
