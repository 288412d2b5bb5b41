//! The upload pipeline. The request task only receives the body; each
//! chunk (a shared `Bytes`, never copied) goes to a hashing thread and to
//! the sink (a writing thread for a local directory, the multipart upload
//! of an object store), so that receiving, hashing and writing overlap
//! on different cores. sha256 of one stream cannot be split, so the
//! hashing thread is the floor of an upload's time on a fast disk.

use std::io::Write;
use std::path::PathBuf;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use object_store::WriteMultipart;
use pv_fs::{AtomicFile, FsError, IoResultExt};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::BlobError;

/// Chunks queued for each consumer (hyper hands over up to ~400 KiB at a
/// time: a few MiB per stage and upload at most).
const CHUNKS_QUEUED: usize = 16;

/// Bytes written to a local file between two starts of its writeback, so
/// that the fsync at the end waits only for the tail.
const WRITEBACK_EVERY: u64 = 32 << 20;

/// sha256 of the chunks sent to it, on a blocking thread.
pub(super) struct HashTask {
    tx: mpsc::Sender<Bytes>,
    join: JoinHandle<[u8; 32]>,
}

impl HashTask {
    pub(super) fn spawn() -> Self {
        let (tx, mut rx) = mpsc::channel::<Bytes>(CHUNKS_QUEUED);
        let join = tokio::task::spawn_blocking(move || {
            let mut h = Sha256::new();
            while let Some(chunk) = rx.blocking_recv() {
                h.update(&chunk);
            }
            h.finalize().into()
        });
        HashTask { tx, join }
    }

    async fn send(&self, chunk: Bytes) -> Result<(), BlobError> {
        self.tx
            .send(chunk)
            .await
            .map_err(|_| BlobError::Body("the hashing thread stopped".into()))
    }

    /// The digest of everything sent.
    pub(super) async fn finish(self) -> Result<[u8; 32], BlobError> {
        drop(self.tx);
        self.join
            .await
            .map_err(|e| BlobError::Body(format!("the hashing thread failed: {e}")))
    }
}

enum FileMsg {
    Chunk(Bytes),
    /// Every byte was sent: hand the file back for publishing.
    Done,
}

/// A temp file beside `target` written by a blocking thread. Unless the
/// thread is told [`FileMsg::Done`], it removes the temp file when the
/// channel closes (a refused upload, or a client gone mid-body).
pub(super) struct FileTask {
    tx: mpsc::Sender<FileMsg>,
    join: JoinHandle<Result<Option<AtomicFile>, FsError>>,
}

impl FileTask {
    pub(super) fn spawn(target: PathBuf) -> Self {
        let (tx, mut rx) = mpsc::channel::<FileMsg>(CHUNKS_QUEUED);
        let join = tokio::task::spawn_blocking(move || {
            let mut file = AtomicFile::create(&target)?;
            let mut unflushed = 0u64;
            while let Some(msg) = rx.blocking_recv() {
                match msg {
                    FileMsg::Chunk(chunk) => {
                        file.write_all(&chunk).at("write", &target)?;
                        unflushed += chunk.len() as u64;
                        if unflushed >= WRITEBACK_EVERY {
                            pv_fs::start_writeback(file.file_mut());
                            unflushed = 0;
                        }
                    }
                    FileMsg::Done => {
                        pv_fs::start_writeback(file.file_mut());
                        return Ok(Some(file));
                    }
                }
            }
            Ok(None)
        });
        FileTask { tx, join }
    }

    /// Queue a chunk (if the thread stopped, [`FileTask::discard`] says why).
    async fn send(&mut self, chunk: Bytes) -> Result<(), BlobError> {
        self.tx
            .send(FileMsg::Chunk(chunk))
            .await
            .map_err(|_| BlobError::Body("the writing thread stopped".into()))
    }

    /// Every chunk written: the unpublished file.
    pub(super) async fn finish(self) -> Result<AtomicFile, BlobError> {
        let FileTask { tx, join } = self;
        let _ = tx.send(FileMsg::Done).await;
        drop(tx);
        match join.await {
            Ok(Ok(Some(f))) => Ok(f),
            Ok(Err(e)) => Err(BlobError::File(e)),
            Ok(Ok(None)) | Err(_) => Err(BlobError::Body("the writing thread failed".into())),
        }
    }

    /// Give up: the temp file is gone when this returns; the thread's own
    /// error if it stopped on one.
    pub(super) async fn discard(self) -> Option<FsError> {
        let FileTask { tx, join } = self;
        drop(tx);
        match join.await {
            Ok(Err(e)) => Some(e),
            _ => None,
        }
    }
}

/// Where the bytes of an upload go.
pub(super) enum Sink {
    /// The blob is already stored: only verify the body.
    Verify,
    File(FileTask),
    Multipart(WriteMultipart),
}

/// Receive the body, refusing it as soon as it is longer than `size`,
/// handing every chunk to the hasher and the sink.
pub(super) async fn feed<S, E>(
    mut body: S,
    size: u64,
    hash: &HashTask,
    sink: &mut Sink,
) -> Result<(), BlobError>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut got: u64 = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| BlobError::Body(e.to_string()))?;
        got += chunk.len() as u64;
        if got > size {
            return Err(BlobError::Length { got, want: size });
        }
        hash.send(chunk.clone()).await?;
        match sink {
            Sink::Verify => {}
            Sink::File(f) => f.send(chunk).await?,
            Sink::Multipart(w) => {
                w.wait_for_capacity(4).await?;
                w.put(chunk);
            }
        }
    }
    if got != size {
        return Err(BlobError::Length { got, want: size });
    }
    Ok(())
}
