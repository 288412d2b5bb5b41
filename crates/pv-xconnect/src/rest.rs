//! `rest` links: HTTP/1.x over a Unix socket. Every request the consumer
//! sends (not only the first: a keep-alive connection carries many) has
//! its `X-PV-Client` and `X-PV-Role` headers removed and set again from
//! the link, so the provider learns who calls and a consumer cannot claim
//! another identity. Bodies are relayed by their framing (Content-Length
//! or chunked); an upgraded connection (`Upgrade`, `CONNECT`) becomes a
//! plain relay. Responses go back untouched.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use crate::splice::{Moved, Splicer, SPLICE_MIN};

/// Largest request head accepted.
pub const MAX_HEAD: usize = 64 * 1024;
/// Headers the mesh owns.
pub const CLIENT: &str = "X-PV-Client";
pub const ROLE: &str = "X-PV-Role";

/// Who calls: the consumer container and the role of its link.
#[derive(Debug, Clone)]
pub struct Identity {
    pub client: String,
    pub role: String,
}

/// A reader over the consumer's stream with what was read ahead.
struct Input<'a> {
    s: &'a UnixStream,
    buf: Vec<u8>,
    /// Moves large bodies (made at the first one; `None` once splicing
    /// turned out impossible). A plain read drops passed descriptors
    /// too, so a body is spliced without looking for them.
    splicer: Option<Option<Splicer>>,
}

impl Input<'_> {
    /// Read more; false at the end of the stream.
    fn fill(&mut self) -> std::io::Result<bool> {
        let mut chunk = [0u8; 16 * 1024];
        let n = loop {
            match (&*self.s).read(&mut chunk) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => break r?,
            }
        };
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    /// A line ending in CRLF (without it).
    fn line(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let l = self.buf[..i].to_vec();
                self.buf.drain(..i + 2);
                return Ok(Some(l));
            }
            if self.buf.len() > MAX_HEAD || !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// Forward exactly `n` bytes to `to`.
    fn forward(&mut self, mut n: u64, to: &UnixStream) -> std::io::Result<()> {
        // what came with the head first
        let k = (self.buf.len() as u64).min(n) as usize;
        if k > 0 {
            (&*to).write_all(&self.buf[..k])?;
            self.buf.drain(..k);
            n -= k as u64;
        }
        // then straight through, never reading past the body (the next
        // request stays in the socket): large runs by splice, the rest
        // through one large buffer
        let mut big = Vec::new();
        while n > 0 {
            if n >= SPLICE_MIN as u64 {
                if let Some(sp) = self.splicer.get_or_insert_with(Splicer::new) {
                    let want = n.min(usize::MAX as u64) as usize;
                    match sp.transfer(self.s, to, want)? {
                        Moved::Bytes(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                        Moved::Bytes(k) => {
                            n -= k as u64;
                            continue;
                        }
                        Moved::Unsupported => self.splicer = Some(None),
                    }
                }
            }
            if big.is_empty() {
                big = vec![0u8; (crate::relay::BUF as u64).min(n) as usize];
            }
            let want = (big.len() as u64).min(n) as usize;
            let got = match (&*self.s).read(&mut big[..want]) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => r?,
            };
            if got == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            (&*to).write_all(&big[..got])?;
            n -= got as u64;
        }
        Ok(())
    }
}

fn bad(msg: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.to_string())
}

/// Rewrite one request head: the request line and headers kept in their
/// order, the mesh's headers replaced. Returns the new head and how the
/// body is framed.
pub fn rewrite_head(head: &[u8], id: &Identity) -> std::io::Result<(Vec<u8>, Framing)> {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(bad("not an HTTP request")),
    }
    let line_end = head
        .windows(2)
        .position(|w| w == b"\r\n")
        .ok_or_else(|| bad("no request line"))?;
    let mut out = Vec::with_capacity(head.len() + 64);
    out.extend_from_slice(&head[..line_end + 2]);
    let mut framing = Framing::None;
    let mut upgrade = req.method == Some("CONNECT");
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case(CLIENT) || name.eq_ignore_ascii_case(ROLE) {
            continue;
        }
        if name.eq_ignore_ascii_case("transfer-encoding") {
            let v = String::from_utf8_lossy(h.value).to_ascii_lowercase();
            if v.trim_end().ends_with("chunked") {
                framing = Framing::Chunked;
            }
        } else if name.eq_ignore_ascii_case("content-length") && framing == Framing::None {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| bad("bad Content-Length"))?;
            framing = Framing::Length(n);
        } else if name.eq_ignore_ascii_case("upgrade") {
            upgrade = true;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value);
        out.extend_from_slice(b"\r\n");
    }
    for (n, v) in [(CLIENT, &id.client), (ROLE, &id.role)] {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    if upgrade {
        framing = Framing::Upgrade(Box::new(framing));
    }
    Ok((out, framing))
}

/// How a request's body is delimited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
    /// After this request (and its body) the connection is raw bytes.
    Upgrade(Box<Framing>),
}

/// Relay the consumer's requests to the provider with the identity set,
/// until the consumer ends; then half-close the provider side.
pub fn requests(from: &UnixStream, to: &UnixStream, id: &Identity) -> std::io::Result<()> {
    let mut input = Input {
        s: from,
        buf: Vec::new(),
        splicer: None,
    };
    let r = relay_requests(&mut input, to, id);
    let _ = to.shutdown(std::net::Shutdown::Write);
    r
}

fn relay_requests(input: &mut Input<'_>, to: &UnixStream, id: &Identity) -> std::io::Result<()> {
    loop {
        // the head: up to the empty line
        let end = loop {
            if let Some(i) = input.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if input.buf.len() > MAX_HEAD {
                return Err(bad("request head too large"));
            }
            if !input.fill()? {
                return Ok(());
            }
        };
        let head: Vec<u8> = input.buf.drain(..end).collect();
        let (new_head, framing) = rewrite_head(&head, id)?;
        (&*to).write_all(&new_head)?;
        let (body, upgrade) = match framing {
            Framing::Upgrade(b) => (*b, true),
            f => (f, false),
        };
        match body {
            Framing::None | Framing::Upgrade(_) => {}
            Framing::Length(n) => input.forward(n, to)?,
            Framing::Chunked => chunked(input, to)?,
        }
        if upgrade {
            (&*to).write_all(&std::mem::take(&mut input.buf))?;
            crate::relay::pump(input.s, to)?;
            return Ok(());
        }
    }
}

/// Forward a chunked body as it is, ending after the last chunk's trailers.
fn chunked(input: &mut Input<'_>, to: &UnixStream) -> std::io::Result<()> {
    loop {
        let line = input.line()?.ok_or_else(|| bad("truncated chunk"))?;
        let size_text = String::from_utf8_lossy(&line);
        let size_hex = size_text.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size_hex, 16).map_err(|_| bad("bad chunk size"))?;
        (&*to).write_all(&line)?;
        (&*to).write_all(b"\r\n")?;
        if size == 0 {
            // trailers, then the empty line
            loop {
                let t = input.line()?.ok_or_else(|| bad("truncated trailers"))?;
                (&*to).write_all(&t)?;
                (&*to).write_all(b"\r\n")?;
                if t.is_empty() {
                    return Ok(());
                }
            }
        }
        input.forward(size + 2, to)?;
    }
}

/// Serve one consumer connection of a `rest` link.
pub fn serve(consumer: UnixStream, provider: UnixStream, id: Identity) {
    let (c2, p2) = match (consumer.try_clone(), provider.try_clone()) {
        (Ok(c), Ok(p)) => (c, p),
        _ => return,
    };
    let t = std::thread::spawn(move || {
        let _ = crate::relay::pump(&p2, &c2);
    });
    if let Err(e) = requests(&consumer, &provider, &id) {
        tracing::debug!("rest link of {}: {e}", id.client);
        let _ = provider.shutdown(std::net::Shutdown::Both);
        let _ = consumer.shutdown(std::net::Shutdown::Both);
    }
    let _ = t.join();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> Identity {
        Identity {
            client: "cons".into(),
            role: "admin".into(),
        }
    }

    #[test]
    fn forged_headers_are_replaced_in_every_request() {
        let (client, proxy_in) = UnixStream::pair().unwrap();
        let (proxy_out, server) = UnixStream::pair().unwrap();
        let t = std::thread::spawn(move || serve(proxy_in, proxy_out, id()));
        let reqs = b"POST /a HTTP/1.1\r\nHost: x\r\nx-pv-role: root\r\nContent-Length: 5\r\n\r\nhello\
GET /b HTTP/1.1\r\nX-PV-Client: other\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n\
GET /c HTTP/1.1\r\n\r\n";
        (&client).write_all(reqs).unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let mut got = String::new();
        (&server).read_to_string(&mut got).unwrap();
        assert_eq!(
            got,
            "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-PV-Client: cons\r\nX-PV-Role: admin\r\n\r\nhello\
GET /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX-PV-Client: cons\r\nX-PV-Role: admin\r\n\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n\
GET /c HTTP/1.1\r\nX-PV-Client: cons\r\nX-PV-Role: admin\r\n\r\n"
        );
        (&server).write_all(b"HTTP/1.1 200 OK\r\n\r\n").unwrap();
        server.shutdown(std::net::Shutdown::Write).unwrap();
        let mut back = String::new();
        (&client).read_to_string(&mut back).unwrap();
        assert_eq!(back, "HTTP/1.1 200 OK\r\n\r\n");
        t.join().unwrap();
    }

    #[test]
    fn large_bodies_end_where_their_framing_says() {
        let (client, proxy_in) = UnixStream::pair().unwrap();
        let (proxy_out, server) = UnixStream::pair().unwrap();
        let t = std::thread::spawn(move || serve(proxy_in, proxy_out, id()));
        let body: Vec<u8> = (0..(1u32 << 20) + 7).map(|i| (i % 241) as u8).collect();
        let chunk = vec![b'c'; 200_000];
        let mut reqs =
            format!("POST /a HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        reqs.extend_from_slice(&body);
        reqs.extend_from_slice(b"POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n30d40\r\n");
        reqs.extend_from_slice(&chunk);
        reqs.extend_from_slice(b"\r\n0\r\n\r\nGET /c HTTP/1.1\r\nX-PV-Role: root\r\n\r\n");
        let w = std::thread::spawn(move || {
            (&client).write_all(&reqs).unwrap();
            client.shutdown(std::net::Shutdown::Write).unwrap();
            client
        });
        let mut got = vec![];
        (&server).read_to_end(&mut got).unwrap();
        let mut want = format!(
            "POST /a HTTP/1.1\r\nContent-Length: {}\r\nX-PV-Client: cons\r\nX-PV-Role: admin\r\n\r\n",
            body.len()
        )
        .into_bytes();
        want.extend_from_slice(&body);
        want.extend_from_slice(b"POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX-PV-Client: cons\r\nX-PV-Role: admin\r\n\r\n30d40\r\n");
        want.extend_from_slice(&chunk);
        want.extend_from_slice(
            b"\r\n0\r\n\r\nGET /c HTTP/1.1\r\nX-PV-Client: cons\r\nX-PV-Role: admin\r\n\r\n",
        );
        assert!(
            got == want,
            "{} bytes relayed, {} expected",
            got.len(),
            want.len()
        );
        drop(server);
        drop(w.join().unwrap());
        t.join().unwrap();
    }

    #[test]
    fn garbage_is_not_forwarded() {
        assert!(rewrite_head(b"\x00\x01 nope\r\n\r\n", &id()).is_err());
        assert!(rewrite_head(b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", &id()).is_err());
        let (_, f) = rewrite_head(b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", &id()).unwrap();
        assert_eq!(f, Framing::Upgrade(Box::new(Framing::None)));
    }
}
