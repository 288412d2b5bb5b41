//! Tell HTTP from garbage before handing a connection to hyper, so that a
//! client speaking another protocol gets the original's answer
//! (`{"Error": "Unsupported protocol"}`, 400) instead of a bare close, and
//! check the first request's head the way hyper will (same parser, same
//! length rules), so that a malformed one gets a status with a JSON error
//! body rather than hyper's empty answer.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// Longest request line looked at.
const MAX_LINE: usize = 8192;
/// Longest request head (request line and headers) accepted.
pub(crate) const MAX_HEAD: usize = 64 << 10;
/// Most headers in a request (hyper's default).
const MAX_HEADERS: usize = 100;

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
    /// An HTTP/1.x request with a well-formed head (the bytes read so far
    /// are kept).
    Http(Bytes),
    /// An HTTP/1.x request line with a head that cannot be served: the
    /// status and the message of the refusal.
    BadHead(u16, &'static str),
    /// Anything else.
    Garbage,
}

/// A refusal with a JSON error body, closing the connection.
pub(crate) fn refusal(status: u16, msg: &str) -> Vec<u8> {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Bad Request");
    let body = serde_json::json!({ "Error": msg }).to_string();
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Check a complete request head (up to and including the blank line) as
/// hyper will: the parser's verdict, then the body length headers.
pub(crate) fn check_head(head: &[u8]) -> Result<(), (u16, &'static str)> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err((400, "Bad request: incomplete head")),
        Err(httparse::Error::TooManyHeaders) => return Err((431, "Too many request headers")),
        Err(httparse::Error::HeaderName | httparse::Error::HeaderValue) => {
            return Err((400, "Bad request: malformed header"))
        }
        Err(_) => return Err((400, "Bad request: malformed request line")),
    }
    let mut length = None;
    let mut chunked_last = None;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .map(str::trim)
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or((400, "Bad request: invalid Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err((400, "Bad request: conflicting Content-Length headers"));
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = h.value.rsplit(|b| *b == b',').next().unwrap_or_default();
            chunked_last = Some(
                String::from_utf8_lossy(last)
                    .trim()
                    .eq_ignore_ascii_case("chunked"),
            );
        }
    }
    if chunked_last == Some(false) {
        return Err((400, "Bad request: unsupported Transfer-Encoding"));
    }
    Ok(())
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

/// Read the first request head (leading empty lines are allowed) and
/// classify it: its request line first, then the whole head.
pub(crate) async fn sniff<S: AsyncRead + Unpin>(s: &mut S) -> io::Result<Sniffed> {
    let mut buf: Vec<u8> = Vec::with_capacity(512);
    let mut line_ok = false;
    loop {
        let start = buf.iter().position(|b| *b != b'\r' && *b != b'\n');
        if let Some(start) = start {
            if !line_ok {
                if let Some(end) = buf[start..].iter().position(|b| *b == b'\n') {
                    let mut line = &buf[start..start + end];
                    if line.last() == Some(&b'\r') {
                        line = &line[..line.len() - 1];
                    }
                    if !is_request_line(line) {
                        return Ok(Sniffed::Garbage);
                    }
                    line_ok = true;
                }
            }
            if line_ok {
                if let Some(end) = head_end(&buf[start..]) {
                    return Ok(match check_head(&buf[start..start + end]) {
                        Ok(()) => Sniffed::Http(Bytes::from(buf)),
                        Err((status, msg)) => Sniffed::BadHead(status, msg),
                    });
                }
                if buf.len() >= MAX_HEAD {
                    return Ok(Sniffed::BadHead(431, "Request header fields too large"));
                }
            }
        }
        if !line_ok && buf.len() >= MAX_LINE {
            return Ok(Sniffed::Garbage);
        }
        let mut chunk = [0u8; 1024];
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Ok(match (buf.is_empty(), line_ok) {
                (true, _) => Sniffed::Empty,
                (false, false) => Sniffed::Garbage,
                (false, true) => Sniffed::BadHead(400, "Bad request: incomplete head"),
            });
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The length of the head up to and including its blank line (`\r\n\r\n`
/// or a bare `\n\n`, as httparse accepts), if it is all there.
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Send a refusal (e.g. [`UNSUPPORTED`]) and close.
pub(crate) async fn refuse<S: AsyncWrite + Unpin>(s: &mut S, answer: &[u8]) {
    let _ = s.write_all(answer).await;
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

    #[tokio::test]
    async fn heads_hyper_would_refuse() {
        for (head, status) in [
            (&b"GET /x HTTP/1.1\r\nHost localhost\r\n\r\n"[..], 400),
            (b"PUT /x HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400),
            (
                b"PUT /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                400,
            ),
            (b"PUT /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
            (b"GET /x HTTP/1.1\r\nHost: localhost\r\n", 400),
        ] {
            let mut input = head;
            match sniff(&mut input).await.unwrap() {
                Sniffed::BadHead(s, _) => assert_eq!(s, status),
                other => panic!("{other:?}: {}", String::from_utf8_lossy(head)),
            }
        }
        let many: String = (0..101).map(|i| format!("X-{i}: y\r\n")).collect();
        let head = format!("GET /x HTTP/1.1\r\n{many}\r\n");
        let mut input = head.as_bytes();
        assert!(matches!(
            sniff(&mut input).await.unwrap(),
            Sniffed::BadHead(431, _)
        ));
        let long = format!("GET /x HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        let mut input = long.as_bytes();
        assert!(matches!(
            sniff(&mut input).await.unwrap(),
            Sniffed::BadHead(431, _)
        ));
        // what hyper serves passes, body bytes included
        let mut ok: &[u8] = b"PUT /x HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab";
        assert!(matches!(sniff(&mut ok).await.unwrap(), Sniffed::Http(p) if p.ends_with(b"ab")));
        let mut ok: &[u8] = b"PUT /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n";
        assert!(matches!(sniff(&mut ok).await.unwrap(), Sniffed::Http(_)));
        let r = refusal(431, "Too many request headers");
        let text = String::from_utf8(r).unwrap();
        assert!(text.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(
            text.ends_with(r#"{"Error":"Too many request headers"}"#),
            "{text}"
        );
    }
}
