//! The answer body both device servers on hyper (`pv-ctrl` on the control
//! socket, `pv-lan` on the LAN) send: bytes already in memory, or `len`
//! bytes of a file read in chunks, with the exact length announced so that
//! hyper writes `Content-Length` instead of chunked encoding. A file that
//! turns out shorter than announced ends the answer with an error (the
//! connection is closed rather than the client left waiting for bytes).

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, ReadBuf};

/// Bytes of a file read at once.
pub const FILE_CHUNK: usize = 64 * 1024;

/// An answer's body.
#[derive(Debug)]
pub enum ReplyBody {
    /// Bytes in memory (`None` once sent, or when empty).
    Bytes(Option<Bytes>),
    /// What is left to send of a file, from where it stands.
    File {
        file: tokio::fs::File,
        left: u64,
        buf: Box<[u8]>,
    },
}

impl ReplyBody {
    pub fn bytes(b: impl Into<Bytes>) -> ReplyBody {
        let b = b.into();
        ReplyBody::Bytes((!b.is_empty()).then_some(b))
    }

    /// `len` bytes of `file` from where it stands.
    pub fn file(file: tokio::fs::File, len: u64) -> ReplyBody {
        ReplyBody::File {
            file,
            left: len,
            buf: vec![0u8; FILE_CHUNK].into_boxed_slice(),
        }
    }

    /// [`ReplyBody::file`] of a file opened by blocking code.
    pub fn std_file(file: std::fs::File, len: u64) -> ReplyBody {
        ReplyBody::file(tokio::fs::File::from_std(file), len)
    }
}

impl Body for ReplyBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            ReplyBody::Bytes(b) => Poll::Ready(b.take().map(|d| Ok(Frame::data(d)))),
            ReplyBody::File { file, left, buf } => {
                if *left == 0 {
                    return Poll::Ready(None);
                }
                let want = usize::try_from(*left).map_or(buf.len(), |l| l.min(buf.len()));
                let mut rb = ReadBuf::new(&mut buf[..want]);
                ready!(Pin::new(file).poll_read(cx, &mut rb))?;
                let got = rb.filled();
                if got.is_empty() {
                    // the file shrank under us: the announced length is a lie
                    return Poll::Ready(Some(Err(io::ErrorKind::UnexpectedEof.into())));
                }
                *left -= got.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(Bytes::copy_from_slice(got)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReplyBody::Bytes(b) => b.is_none(),
            ReplyBody::File { left, .. } => *left == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReplyBody::Bytes(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            ReplyBody::File { left, .. } => SizeHint::with_exact(*left),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::io::{Seek, SeekFrom, Write};

    #[tokio::test(flavor = "current_thread")]
    async fn bytes_and_files_come_whole_with_their_length() {
        let b = ReplyBody::bytes(&b"hello"[..]);
        assert_eq!(b.size_hint().exact(), Some(5));
        assert_eq!(&b.collect().await.unwrap().to_bytes()[..], b"hello");
        let empty = ReplyBody::bytes(Vec::new());
        assert!(empty.is_end_stream());
        assert_eq!(empty.size_hint().exact(), Some(0));

        // three chunks and a bit, from an offset, the rest of the file left out
        let data: Vec<u8> = (0..3 * FILE_CHUNK + 10).map(|i| (i % 251) as u8).collect();
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&data).unwrap();
        f.write_all(b"not sent").unwrap();
        f.seek(SeekFrom::Start(7)).unwrap();
        let len = (data.len() - 7) as u64;
        let body = ReplyBody::std_file(f, len);
        assert_eq!(body.size_hint().exact(), Some(len));
        assert_eq!(&body.collect().await.unwrap().to_bytes()[..], &data[7..]);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_file_shorter_than_announced_breaks_the_answer() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"short").unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        let e = ReplyBody::std_file(f, 100).collect().await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }
}
