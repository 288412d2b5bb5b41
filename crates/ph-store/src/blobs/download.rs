//! Downloads from a local directory in large chunks.

use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;

/// Bytes of a download read at a time from a local file.
const FILE_CHUNK: u64 = 1 << 20;

/// Chunks queued between the reading thread and the response.
const FILE_CHUNKS_AHEAD: usize = 4;

fn read_error(path: &std::path::Path, e: std::io::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: "LocalFileSystem",
        source: format!("{}: {e}", path.display()).into(),
    }
}

/// Stream `range` of a local file in large chunks, read by one blocking
/// task ahead of the response (object_store's own local stream reads 8 KiB
/// per blocking call, which caps a download far below the disk and the
/// network). Each chunk is read into uninitialised capacity (no zeroing
/// pass). The task stops when the response is dropped.
pub(super) fn file_stream(
    mut file: std::fs::File,
    path: std::path::PathBuf,
    range: Range<u64>,
) -> BoxStream<'static, Result<Bytes, object_store::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(FILE_CHUNKS_AHEAD);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = file.seek(SeekFrom::Start(range.start)) {
            let _ = tx.blocking_send(Err(read_error(&path, e)));
            return;
        }
        let mut at = range.start;
        while at < range.end {
            let n = (range.end - at).min(FILE_CHUNK);
            let mut buf = Vec::with_capacity(n as usize);
            let chunk = match (&mut file).take(n).read_to_end(&mut buf) {
                Ok(got) if got as u64 == n => Ok(Bytes::from(buf)),
                Ok(_) => Err(read_error(&path, std::io::ErrorKind::UnexpectedEof.into())),
                Err(e) => Err(read_error(&path, e)),
            };
            let failed = chunk.is_err();
            if tx.blocking_send(chunk).is_err() || failed {
                return;
            }
            at += n;
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move {
        let chunk = rx.recv().await?;
        Some((chunk, rx))
    })
    .boxed()
}
