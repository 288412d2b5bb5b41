//! A blocking client of the control socket: hyper's HTTP/1.1 client over a
//! Unix stream socket, driven by a current-thread tokio runtime for the
//! length of one request. One request per connection (`Connection: close`);
//! request bodies come from memory or are streamed from a file or a reader,
//! response bodies are streamed into a sink.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Frame, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;

/// Where the control socket is, in the order clients look for it: the
/// host's run dir, a container root's `/pv`, a mgmt container's
/// `/pantavisor`.
pub const SOCKET_SEARCH: [&str; 3] = [
    "/run/pantavisor/pv/pv-ctrl",
    "/pv/pv-ctrl",
    "/pantavisor/pv-ctrl",
];

/// Bytes read from a request body source at a time.
const CHUNK: usize = 64 * 1024;

/// Talking to the socket failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket exists but could not be connected to (permissions,
    /// nobody listening).
    #[error("cannot connect to {}: {source}", path.display())]
    Connect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A file to upload could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Input {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The connection failed mid-way.
    #[error("connection to the control socket failed: {0}")]
    Io(#[from] io::Error),
    /// The answer was not HTTP.
    #[error("bad answer from the control socket: {0}")]
    Protocol(String),
}

impl From<hyper::Error> for ClientError {
    fn from(e: hyper::Error) -> Self {
        ClientError::Protocol(e.to_string())
    }
}

/// A request body.
pub enum Body<'a> {
    None,
    Bytes(&'a [u8]),
    /// Streamed from this file with its size as `Content-Length`.
    File(&'a Path),
    /// Streamed from a reader that yields exactly this many bytes.
    Reader(&'a mut dyn Read, u64),
}

/// A response; the body went to the sink given to [`Client::send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// A header's value (first of that name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A client of one socket.
#[derive(Debug, Clone)]
pub struct Client {
    pub socket: PathBuf,
    /// Print request and response heads to stderr.
    pub verbose: bool,
    /// Give up on a silent server after this long (the original allows
    /// 240 s for a request, 4 h for an object upload).
    pub timeout: Duration,
}

impl Client {
    pub fn new(socket: impl Into<PathBuf>) -> Client {
        Client {
            socket: socket.into(),
            verbose: false,
            timeout: Duration::from_secs(240),
        }
    }

    /// Send a request and collect the body.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Body<'_>,
        content_type: Option<&str>,
    ) -> Result<(Head, Vec<u8>), ClientError> {
        let mut out = vec![];
        let head = self.send(method, path, body, content_type, &mut out)?;
        Ok((head, out))
    }

    /// Send a request and stream the response body into `sink`.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Body<'_>,
        content_type: Option<&str>,
        sink: &mut dyn Write,
    ) -> Result<Head, ClientError> {
        let source = Source::open(body)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        rt.block_on(self.exchange(method, path, source, content_type, sink))
    }

    async fn exchange(
        &self,
        method: &str,
        path: &str,
        source: Source<'_>,
        content_type: Option<&str>,
        sink: &mut dyn Write,
    ) -> Result<Head, ClientError> {
        let stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .map_err(|source| ClientError::Connect {
                path: self.socket.clone(),
                source,
            })?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        // the connection runs beside this future on the same thread; it ends
        // when the server closes (or when the runtime is dropped)
        tokio::spawn(conn);

        let length = source.len();
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("Host", "localhost");
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        if let Some(n) = length {
            req = req.header("Content-Length", n);
        }
        req = req.header("Connection", "close");
        let (tx, rx) = mpsc::channel(4);
        let req = req
            .body(Channel {
                rx,
                remaining: length.unwrap_or(0),
            })
            .map_err(|e| ClientError::Protocol(format!("request {method} {path}: {e}")))?;
        if self.verbose {
            eprintln!("> {method} {path} HTTP/1.1");
            for (k, v) in req.headers() {
                eprintln!("> {k}: {}", String::from_utf8_lossy(v.as_bytes()));
            }
        }
        let answer = sender.send_request(req);
        source.feed(tx).await?;
        let resp = self.in_time(answer).await??;

        let head = Head {
            status: resp.status().as_u16(),
            headers: resp
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
        };
        if self.verbose {
            eprintln!("< HTTP/1.1 {}", head.status);
            for (k, v) in &head.headers {
                eprintln!("< {k}: {v}");
            }
        }
        let mut body = resp.into_body();
        while let Some(frame) = self.in_time(body.frame()).await? {
            if let Ok(data) = frame?.into_data() {
                sink.write_all(&data)?;
            }
        }
        Ok(head)
    }

    async fn in_time<F: std::future::Future>(&self, f: F) -> Result<F::Output, ClientError> {
        tokio::time::timeout(self.timeout, f).await.map_err(|_| {
            ClientError::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "no answer from {} in {:?}",
                    self.socket.display(),
                    self.timeout
                ),
            ))
        })
    }
}

/// Where a request body comes from.
enum Source<'a> {
    None,
    Bytes(&'a [u8]),
    File(File, &'a Path, u64),
    Reader(&'a mut dyn Read, u64),
}

impl<'a> Source<'a> {
    fn open(body: Body<'a>) -> Result<Self, ClientError> {
        Ok(match body {
            Body::None => Source::None,
            Body::Bytes(b) => Source::Bytes(b),
            Body::Reader(r, n) => Source::Reader(r, n),
            Body::File(p) => {
                let input = |source| ClientError::Input {
                    path: p.to_path_buf(),
                    source,
                };
                let f = File::open(p).map_err(input)?;
                let len = f.metadata().map_err(input)?.len();
                Source::File(f, p, len)
            }
        })
    }

    fn len(&self) -> Option<u64> {
        match self {
            Source::None => None,
            Source::Bytes(b) => Some(b.len() as u64),
            Source::File(_, _, n) | Source::Reader(_, n) => Some(*n),
        }
    }

    /// Push the body into the request, `CHUNK` bytes at a time (reads block
    /// this thread, which only drives this request). Stops quietly when the
    /// server stopped reading (its answer tells why).
    async fn feed(self, tx: mpsc::Sender<Bytes>) -> Result<(), ClientError> {
        let (mut reader, n, path): (Box<dyn Read + 'a>, u64, Option<&Path>) = match self {
            Source::None => return Ok(()),
            Source::Bytes(b) => {
                let _ = tx.send(Bytes::copy_from_slice(b)).await;
                return Ok(());
            }
            Source::File(f, p, n) => (Box::new(f), n, Some(p)),
            Source::Reader(r, n) => (Box::new(r), n, None),
        };
        let mut sent = 0u64;
        let mut buf = vec![0u8; CHUNK];
        while sent < n {
            let want = usize::try_from(n - sent).map_or(CHUNK, |r| r.min(CHUNK));
            let got = match reader.read(&mut buf[..want]) {
                Ok(0) => break,
                Ok(k) => k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(match path {
                        Some(p) => ClientError::Input {
                            path: p.to_path_buf(),
                            source,
                        },
                        None => ClientError::Io(source),
                    })
                }
            };
            sent += got as u64;
            if tx.send(Bytes::copy_from_slice(&buf[..got])).await.is_err() {
                return Ok(());
            }
        }
        if sent != n {
            return Err(ClientError::Protocol(format!(
                "request body ended after {sent} of {n} bytes"
            )));
        }
        Ok(())
    }
}

/// The request body as hyper reads it: chunks handed over by
/// [`Source::feed`].
struct Channel {
    rx: mpsc::Receiver<Bytes>,
    remaining: u64,
}

impl hyper::body::Body for Channel {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(b)) => {
                self.remaining = self.remaining.saturating_sub(b.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
            // the feeder gave up: the body is short, the request must fail
            Poll::Ready(None) => Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "request body ended early",
            )))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A server that reads one request and answers `answer` verbatim;
    /// returns the socket and a handle yielding the request bytes.
    fn server(
        answer: &'static [u8],
    ) -> (tempfile::TempDir, Client, std::thread::JoinHandle<Vec<u8>>) {
        let d = tempfile::tempdir().unwrap();
        let sock = d.path().join("s");
        let l = UnixListener::bind(&sock).unwrap();
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut req = vec![];
            let mut buf = [0u8; 4096];
            // the head, then as much body as Content-Length says
            loop {
                let n = s.read(&mut buf).unwrap();
                req.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&req).to_ascii_lowercase();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                    if req.len() >= end + 4 + len || n == 0 {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            let _ = s.write_all(answer);
            req
        });
        let c = Client::new(&sock);
        (d, c, h)
    }

    #[test]
    fn bodies_by_length_chunks_or_close() {
        let cases: [(&'static [u8], u16, &[u8]); 4] = [
            (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", 200, b"abc"),
            (
                b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nwiki\r\n5\r\npedia\r\n0\r\nT: v\r\n\r\n",
                404,
                b"wikipedia",
            ),
            (b"HTTP/1.0 200 OK\r\n\r\nuntil the end", 200, b"until the end"),
            (
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Busy\r\nRetry-After: 120\r\nContent-Length: 0\r\n\r\n",
                503,
                b"",
            ),
        ];
        for (answer, status, body) in cases {
            let (_d, c, h) = server(answer);
            let (head, got) = c.call("GET", "/steps", Body::None, None).unwrap();
            assert_eq!((head.status, got.as_slice()), (status, body));
            let req = String::from_utf8(h.join().unwrap()).unwrap();
            assert!(req.starts_with("GET /steps HTTP/1.1\r\n"), "{req}");
            if status == 503 {
                assert_eq!(head.header("retry-after"), Some("120"));
            }
        }
    }

    #[test]
    fn request_bodies_stream_with_their_length() {
        let (_d, c, h) = server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        let data = vec![7u8; 3 * CHUNK + 5];
        let mut r = &data[..];
        let (head, _) = c
            .call(
                "PUT",
                "/objects/x",
                Body::Reader(&mut r, data.len() as u64),
                Some("application/octet-stream"),
            )
            .unwrap();
        assert_eq!(head.status, 200);
        let req = h.join().unwrap();
        let text = String::from_utf8_lossy(&req).to_ascii_lowercase();
        assert!(
            text.contains(&format!("content-length: {}\r\n", data.len())),
            "{text}"
        );
        assert!(text.contains("content-type: application/octet-stream\r\n"));
        assert!(req.ends_with(&data));
    }

    #[test]
    fn short_reader_missing_file_garbage_and_no_socket_fail() {
        let (_d, c, _h) = server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        let mut r = &b"abc"[..];
        let err = c
            .call("PUT", "/x", Body::Reader(&mut r, 10), None)
            .unwrap_err();
        assert!(err.to_string().contains("after 3 of 10 bytes"), "{err}");

        let missing = Path::new("/nonexistent/file");
        let err = c.call("PUT", "/x", Body::File(missing), None).unwrap_err();
        assert!(matches!(err, ClientError::Input { .. }), "{err}");

        let (_d, c, _h) = server(b"SSH-2.0-x\r\n");
        let err = c.call("GET", "/", Body::None, None).unwrap_err();
        assert!(matches!(err, ClientError::Protocol(_)), "{err}");

        let (_d, c, _h) = server(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc");
        assert!(c.call("GET", "/", Body::None, None).is_err());

        let err = Client::new("/nonexistent/sock")
            .call("GET", "/", Body::None, None)
            .unwrap_err();
        assert!(matches!(err, ClientError::Connect { .. }), "{err}");
    }
}
