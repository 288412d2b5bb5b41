//! Response bodies: bytes in memory, or a file streamed in chunks with its
//! exact length announced (so hyper sends `Content-Length`).

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, ReadBuf};

const CHUNK: usize = 64 * 1024;

/// A response body.
#[derive(Debug)]
pub(crate) enum ReplyBody {
    Full(Option<Bytes>),
    File {
        file: tokio::fs::File,
        remaining: u64,
        buf: Box<[u8]>,
    },
}

impl ReplyBody {
    pub(crate) fn bytes(b: impl Into<Bytes>) -> ReplyBody {
        let b = b.into();
        ReplyBody::Full((!b.is_empty()).then_some(b))
    }

    pub(crate) fn file(file: tokio::fs::File, len: u64) -> ReplyBody {
        ReplyBody::File {
            file,
            remaining: len,
            buf: vec![0u8; CHUNK].into_boxed_slice(),
        }
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
            ReplyBody::Full(b) => Poll::Ready(b.take().map(|d| Ok(Frame::data(d)))),
            ReplyBody::File {
                file,
                remaining,
                buf,
            } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                let want = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(buf.len());
                let mut rb = ReadBuf::new(&mut buf[..want]);
                ready!(Pin::new(file).poll_read(cx, &mut rb))?;
                let n = rb.filled().len();
                if n == 0 {
                    // the file shrank under us: the announced length is a lie
                    return Poll::Ready(Some(Err(io::ErrorKind::UnexpectedEof.into())));
                }
                *remaining -= n as u64;
                Poll::Ready(Some(Ok(Frame::data(Bytes::copy_from_slice(rb.filled())))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReplyBody::Full(b) => b.is_none(),
            ReplyBody::File { remaining, .. } => *remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReplyBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            ReplyBody::File { remaining, .. } => SizeHint::with_exact(*remaining),
        }
    }
}
