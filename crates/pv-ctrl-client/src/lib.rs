//! A small HTTP/1.1 client of the control socket over a Unix stream socket: one request per
//! connection (`Connection: close`), bodies from memory or streamed from a
//! file, responses delimited by `Content-Length`, chunked encoding or the
//! end of the connection.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
        let mut file = None;
        let mut body = body;
        let length = match &body {
            Body::None => None,
            Body::Bytes(b) => Some(b.len() as u64),
            Body::Reader(_, n) => Some(*n),
            Body::File(p) => {
                let p = *p;
                let input = |source| ClientError::Input {
                    path: p.to_path_buf(),
                    source,
                };
                let f = File::open(p).map_err(input)?;
                let len = f.metadata().map_err(input)?.len();
                file = Some(f);
                Some(len)
            }
        };
        let mut stream =
            UnixStream::connect(&self.socket).map_err(|source| ClientError::Connect {
                path: self.socket.clone(),
                source,
            })?;
        stream.set_read_timeout(Some(self.timeout))?;
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
        if let Some(ct) = content_type {
            head.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        if let Some(n) = length {
            head.push_str(&format!("Content-Length: {n}\r\n"));
        }
        head.push_str("Connection: close\r\n\r\n");
        if self.verbose {
            for line in head.trim_end().lines() {
                eprintln!("> {line}");
            }
        }
        stream.write_all(head.as_bytes())?;
        match (&mut body, file) {
            (Body::Bytes(b), _) => stream.write_all(b)?,
            (Body::File(_), Some(mut f)) => {
                io::copy(&mut f, &mut stream)?;
            }
            (Body::Reader(r, n), _) => {
                let copied = io::copy(&mut r.take(*n), &mut stream)?;
                if copied != *n {
                    return Err(ClientError::Protocol(format!(
                        "request body ended after {copied} of {n} bytes"
                    )));
                }
            }
            _ => {}
        }
        stream.flush()?;
        let mut reader = BufReader::new(stream);
        let head = read_head(&mut reader)?;
        if self.verbose {
            eprintln!("< HTTP/1.1 {}", head.status);
            for (k, v) in &head.headers {
                eprintln!("< {k}: {v}");
            }
        }
        let bodiless = method == "HEAD" || head.status == 204 || head.status == 304;
        if !bodiless {
            read_body(&mut reader, &head, sink)?;
        }
        Ok(head)
    }
}

fn read_line(r: &mut impl BufRead) -> Result<String, ClientError> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(ClientError::Protocol("connection closed early".into()));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Status line and headers (interim 1xx answers are skipped).
pub fn read_head(r: &mut impl BufRead) -> Result<Head, ClientError> {
    loop {
        let status_line = read_line(r)?;
        let mut parts = status_line.split_whitespace();
        let version = parts.next().unwrap_or_default();
        if !version.starts_with("HTTP/1.") {
            return Err(ClientError::Protocol(format!(
                "status line {status_line:?}"
            )));
        }
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| ClientError::Protocol(format!("status line {status_line:?}")))?;
        let mut headers = vec![];
        loop {
            let line = read_line(r)?;
            if line.is_empty() {
                break;
            }
            let (k, v) = line
                .split_once(':')
                .ok_or_else(|| ClientError::Protocol(format!("header {line:?}")))?;
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        if (100..200).contains(&status) {
            continue;
        }
        return Ok(Head { status, headers });
    }
}

/// The body that follows `head`.
pub fn read_body(
    r: &mut impl BufRead,
    head: &Head,
    sink: &mut dyn Write,
) -> Result<(), ClientError> {
    let chunked = head
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        loop {
            let line = read_line(r)?;
            let size = line.split(';').next().unwrap_or_default().trim();
            let size = u64::from_str_radix(size, 16)
                .map_err(|_| ClientError::Protocol(format!("chunk size {line:?}")))?;
            if size == 0 {
                // trailers, up to the empty line
                while !read_line(r)?.is_empty() {}
                return Ok(());
            }
            let copied = io::copy(&mut r.take(size), sink)?;
            if copied != size {
                return Err(ClientError::Protocol("truncated chunk".into()));
            }
            read_line(r)?;
        }
    }
    match head.header("content-length") {
        Some(n) => {
            let n: u64 = n
                .parse()
                .map_err(|_| ClientError::Protocol(format!("content length {n:?}")))?;
            let copied = io::copy(&mut r.take(n), sink)?;
            if copied != n {
                return Err(ClientError::Protocol("truncated body".into()));
            }
        }
        None => {
            io::copy(r, sink)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8]) -> (Head, Vec<u8>) {
        let mut r = BufReader::new(raw);
        let head = read_head(&mut r).unwrap();
        let mut body = vec![];
        read_body(&mut r, &head, &mut body).unwrap();
        (head, body)
    }

    #[test]
    fn content_length_chunked_and_close_delimited() {
        let (h, b) = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef");
        assert_eq!((h.status, b.as_slice()), (200, &b"abc"[..]));
        let (h, b) = parse(
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nwiki\r\n5\r\npedia\r\n0\r\nT: v\r\n\r\n",
        );
        assert_eq!((h.status, b.as_slice()), (404, &b"wikipedia"[..]));
        let (_, b) = parse(b"HTTP/1.0 200 OK\r\n\r\nuntil the end");
        assert_eq!(b, b"until the end");
        let (h, _) = parse(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Busy\r\nRetry-After: 120\r\nContent-Length: 0\r\n\r\n");
        assert_eq!((h.status, h.header("retry-after")), (503, Some("120")));
    }

    #[test]
    fn rejects_garbage() {
        let mut r = BufReader::new(&b"SSH-2.0-x\r\n"[..]);
        assert!(matches!(read_head(&mut r), Err(ClientError::Protocol(_))));
        let mut r = BufReader::new(&b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc"[..]);
        let h = read_head(&mut r).unwrap();
        assert!(read_body(&mut r, &h, &mut vec![]).is_err());
    }
}
