//! Bodies between hyper's async connections and the blocking handlers.
//!
//! A request body reaches its handler as a blocking [`Read`] fed by a task
//! of the connection, one chunk at a time through a channel of one place:
//! an upload streams through to the control socket and is never held
//! whole. The reader waits on a plain `std` channel, so it may be read
//! from inside another runtime (the control-socket client reads it within
//! its own). What the handler leaves unread is read and dropped by the
//! same task, so the client gets its answer and the connection stays
//! usable. Answers are `pv_http_body::ReplyBody`, as the control socket's.

use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use http_body::Body;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::Notify;

/// How long a client may send nothing in the middle of a body.
const BODY_IDLE: Duration = Duration::from_secs(60);

/// What passes from the connection to the handler: a chunk, the end
/// (`Ok(None)`), or why the body broke off.
type Chunk = Result<Option<Bytes>, io::Error>;

/// A request body as the blocking handlers read it.
pub struct RequestBody {
    rx: Option<Receiver<Chunk>>,
    /// Told each time a chunk is taken (there is room again) and when the
    /// reader goes away.
    taken: Arc<Notify>,
    current: Bytes,
    ended: bool,
    len: Option<u64>,
}

impl RequestBody {
    fn new(rx: Option<Receiver<Chunk>>, taken: Arc<Notify>, len: Option<u64>) -> RequestBody {
        RequestBody {
            ended: rx.is_none(),
            rx,
            taken,
            current: Bytes::new(),
            len,
        }
    }

    /// The length the client announced (`Content-Length`), if any.
    pub fn len(&self) -> Option<u64> {
        self.len
    }

    #[cfg(test)]
    fn from_chunks(chunks: Vec<Chunk>, len: Option<u64>) -> RequestBody {
        let (tx, rx) = sync_channel(chunks.len().max(1));
        for c in chunks {
            tx.try_send(c).expect("room for every chunk");
        }
        RequestBody::new(Some(rx), Arc::new(Notify::new()), len)
    }
}

impl Read for RequestBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.current.is_empty() {
            let rx = match self.rx.as_ref() {
                Some(rx) if !self.ended => rx,
                _ => return Ok(0),
            };
            let got = rx.recv();
            self.taken.notify_one();
            match got {
                Ok(Ok(Some(b))) => self.current = b,
                Ok(Ok(None)) => self.ended = true,
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "the connection ended in the middle of the body",
                    ))
                }
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        // the feeding task finds the channel closed and drains the rest
        self.rx.take();
        self.taken.notify_one();
    }
}

/// Hand `body` to a blocking reader; a task of the current runtime feeds
/// it. Call from within the runtime.
pub fn bridge(body: Incoming) -> RequestBody {
    let len = body.size_hint().exact();
    let taken = Arc::new(Notify::new());
    if body.is_end_stream() {
        return RequestBody::new(None, taken, len);
    }
    let (tx, rx) = sync_channel(1);
    tokio::spawn(feed(body, tx, Arc::clone(&taken)));
    RequestBody::new(Some(rx), taken, len)
}

/// Put `chunk` in the channel once there is room; false if the reader is
/// gone.
async fn hand_over(tx: &SyncSender<Chunk>, taken: &Notify, mut chunk: Chunk) -> bool {
    loop {
        match tx.try_send(chunk) {
            Ok(()) => return true,
            Err(TrySendError::Disconnected(_)) => return false,
            Err(TrySendError::Full(c)) => {
                chunk = c;
                // a chunk taken since the try leaves its permit: no wake-up is lost
                taken.notified().await;
            }
        }
    }
}

/// Pass the chunks of `body` on while the reader is there, then read the
/// rest and drop it. A client silent for [`BODY_IDLE`] is given up on (the
/// connection is then closed).
async fn feed(mut body: Incoming, tx: SyncSender<Chunk>, taken: Arc<Notify>) {
    let mut reader_gone = false;
    loop {
        let chunk = match tokio::time::timeout(BODY_IDLE, body.frame()).await {
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no byte of the body for {} s", BODY_IDLE.as_secs()),
            )),
            Ok(None) => Ok(None),
            Ok(Some(Err(e))) => Err(io::Error::other(e)),
            Ok(Some(Ok(frame))) => match frame.into_data() {
                Ok(d) if !d.is_empty() => Ok(Some(d)),
                _ => continue,
            },
        };
        let last = !matches!(chunk, Ok(Some(_)));
        if !reader_gone && !hand_over(&tx, &taken, chunk).await {
            reader_gone = true;
        }
        if last {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_read_across_boundaries_and_a_broken_off_body_is_an_error() {
        let mut whole = RequestBody::from_chunks(
            vec![
                Ok(Some(Bytes::from_static(b"hel"))),
                Ok(Some(Bytes::from_static(b"lo"))),
                Ok(None),
            ],
            Some(5),
        );
        let mut out = String::new();
        whole.read_to_string(&mut out).unwrap();
        assert_eq!((out.as_str(), whole.len()), ("hello", Some(5)));
        assert_eq!(whole.read(&mut [0u8; 4]).unwrap(), 0, "stays at the end");

        // the feeding task went away without saying the body ended
        let mut cut = RequestBody::from_chunks(vec![Ok(Some(Bytes::from_static(b"par")))], None);
        let mut out = vec![];
        let e = cut.read_to_end(&mut out).unwrap_err();
        assert_eq!(
            (e.kind(), out.as_slice()),
            (io::ErrorKind::ConnectionAborted, &b"par"[..])
        );

        let mut failed = RequestBody::from_chunks(
            vec![Err(io::Error::new(io::ErrorKind::TimedOut, "idle"))],
            Some(9),
        );
        assert_eq!(
            failed.read(&mut [0u8; 4]).unwrap_err().kind(),
            io::ErrorKind::TimedOut
        );
    }
}
