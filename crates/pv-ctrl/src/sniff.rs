//! Tell HTTP from garbage before handing a connection to hyper, so that a
//! client speaking another protocol gets the original's answer
//! (`{"Error": "Unsupported protocol"}`, 400) instead of a bare close.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// Longest request line looked at.
const MAX_LINE: usize = 8192;

/// The answer to a client that does not speak HTTP/1.x (the original's
/// text, space included).
pub(crate) const UNSUPPORTED: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
Content-Type: application/json\r\n\
Content-Length: 33\r\n\
Connection: close\r\n\r\n\
{\"Error\": \"Unsupported protocol\"}";

/// What the first bytes of a connection are.
#[derive(Debug)]
pub(crate) enum Sniffed {
    /// The peer closed without sending anything.
    Empty,
    /// An HTTP/1.x request line (the bytes read so far are kept).
    Http(Bytes),
    /// Anything else.
    Garbage,
}

/// True if `line` (without its line end) is `METHOD SP TARGET SP HTTP/1.x`.
pub(crate) fn is_request_line(line: &[u8]) -> bool {
    let mut parts = line.split(|b| *b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    !method.is_empty()
        && method
            .iter()
            .all(|b| b.is_ascii_alphabetic() || *b == b'-' || *b == b'_')
        && !target.is_empty()
        && target.iter().all(|b| b.is_ascii_graphic())
        && (version == b"HTTP/1.0" || version == b"HTTP/1.1")
}

/// Read up to the end of the first request line (leading empty lines are
/// allowed) and classify it.
pub(crate) async fn sniff<S: AsyncRead + Unpin>(s: &mut S) -> io::Result<Sniffed> {
    let mut buf: Vec<u8> = Vec::with_capacity(512);
    loop {
        let start = buf.iter().position(|b| *b != b'\r' && *b != b'\n');
        if let Some(start) = start {
            if let Some(end) = buf[start..].iter().position(|b| *b == b'\n') {
                let mut line = &buf[start..start + end];
                if line.last() == Some(&b'\r') {
                    line = &line[..line.len() - 1];
                }
                return Ok(if is_request_line(line) {
                    Sniffed::Http(Bytes::from(buf))
                } else {
                    Sniffed::Garbage
                });
            }
        }
        if buf.len() >= MAX_LINE {
            return Ok(Sniffed::Garbage);
        }
        let mut chunk = [0u8; 1024];
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Ok(if buf.is_empty() {
                Sniffed::Empty
            } else {
                Sniffed::Garbage
            });
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Send the unsupported-protocol answer and close.
pub(crate) async fn refuse<S: AsyncWrite + Unpin>(s: &mut S) {
    let _ = s.write_all(UNSUPPORTED).await;
    let _ = s.shutdown().await;
}

/// A stream that first yields bytes already read from it.
pub(crate) struct Rewind<S> {
    prefix: Bytes,
    inner: S,
}

impl<S> Rewind<S> {
    pub(crate) fn new(prefix: Bytes, inner: S) -> Self {
        Rewind { prefix, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        assert!(is_request_line(b"GET /containers HTTP/1.1"));
        assert!(is_request_line(b"PUT /objects/abc HTTP/1.0"));
        assert!(!is_request_line(b"GET /containers"));
        assert!(!is_request_line(b"hello world"));
        assert!(!is_request_line(b"GET / HTTP/2.0"));
        assert!(!is_request_line(b"\x16\x03\x01 / HTTP/1.1"));
    }

    #[test]
    fn unsupported_length_matches() {
        let body = br#"{"Error": "Unsupported protocol"}"#;
        assert_eq!(body.len(), 33);
        assert!(UNSUPPORTED.ends_with(body));
    }

    #[tokio::test]
    async fn sniffs_and_rewinds() {
        let mut input: &[u8] = b"\r\nGET /x HTTP/1.1\r\nHost: localhost\r\n\r\n";
        let Sniffed::Http(prefix) = sniff(&mut input).await.unwrap() else {
            panic!("not http")
        };
        let mut r = Rewind::new(prefix, input);
        let mut all = vec![];
        r.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"\r\nGET /x HTTP/1.1\r\nHost: localhost\r\n\r\n");
        let mut junk: &[u8] = b"\x00\x01\x02garbage\n";
        assert!(matches!(sniff(&mut junk).await.unwrap(), Sniffed::Garbage));
        let mut empty: &[u8] = b"";
        assert!(matches!(sniff(&mut empty).await.unwrap(), Sniffed::Empty));
    }
}
