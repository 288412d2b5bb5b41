//! Relayed bytes moved inside the kernel: splice(2) from the source socket
//! into a pipe and from the pipe into the destination socket, so the
//! proxy hands the sender's pages on instead of copying every byte into
//! user space and back (Unix sockets splice both ways without copying
//! paged data).
//!
//! Splicing from a Unix socket discards descriptors passed with
//! `SCM_RIGHTS` (the kernel closes them). [`Splicer::descriptors_queued`]
//! tells whether the socket's receive queue holds any (its `scm_fds` in
//! `/proc/self/fdinfo`, Linux ≥ 5.6); a relay that keeps descriptors
//! splices only bytes that were queued while it held none, and receives
//! everything else with recvmsg.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;

use rustix::io::Errno;
use rustix::pipe::{fcntl_setpipe_size, pipe_with, splice, PipeFlags, SpliceFlags};

/// Below this many queued bytes a relay copies: two splices cost more
/// than copying a small message.
pub const SPLICE_MIN: usize = 16 * 1024;
/// The pipe's size asked for (the system's `pipe-max-size` by default);
/// a smaller pipe only means more rounds.
const PIPE_SIZE: usize = 1024 * 1024;

/// A pipe that bytes from one socket pass through on their way to another.
pub struct Splicer {
    pipe_r: OwnedFd,
    pipe_w: OwnedFd,
    /// Bytes one round may move: the pipe's size.
    capacity: usize,
    /// `/proc/self/fdinfo/<source>`, read again for every check.
    fdinfo: Option<File>,
}

/// What one round moved.
pub enum Moved {
    /// This many bytes (0: the source ended).
    Bytes(usize),
    /// The source cannot be spliced from; nothing was taken from it.
    Unsupported,
}

impl Splicer {
    /// A splicer for bytes whose descriptors do not matter (the relay
    /// would drop them anyway). `None` if no pipe can be made.
    pub fn new() -> Option<Splicer> {
        let (pipe_r, pipe_w) = pipe_with(PipeFlags::CLOEXEC).ok()?;
        let capacity = fcntl_setpipe_size(&pipe_w, PIPE_SIZE)
            .or_else(|_| rustix::pipe::fcntl_getpipe_size(&pipe_w))
            .ok()?;
        Some(Splicer {
            pipe_r,
            pipe_w,
            capacity,
            fdinfo: None,
        })
    }

    /// A splicer for `source` that can tell whether descriptors are
    /// queued on it. `None` where that cannot be told (no `/proc`, a
    /// kernel without `scm_fds`): the relay then only copies.
    pub fn keeping_descriptors(source: &UnixStream) -> Option<Splicer> {
        let path = format!("/proc/self/fdinfo/{}", source.as_raw_fd());
        let fdinfo = File::open(path).ok()?;
        scm_fds(&fdinfo)?;
        Some(Splicer {
            fdinfo: Some(fdinfo),
            ..Splicer::new()?
        })
    }

    /// Whether descriptors wait in the source's receive queue (`true`
    /// when it cannot be told). Bytes queued before a `false` answer
    /// carry none: only this relay takes from the queue, and the kernel
    /// counts a message's descriptors before queueing it.
    pub fn descriptors_queued(&self) -> bool {
        match &self.fdinfo {
            Some(f) => scm_fds(f) != Some(0),
            None => true,
        }
    }

    /// Move up to `max` bytes from `from` to `to`, waiting for the first
    /// ones if none are there.
    pub fn transfer(
        &mut self,
        from: &UnixStream,
        to: &UnixStream,
        max: usize,
    ) -> std::io::Result<Moved> {
        let want = max.min(self.capacity);
        let n = loop {
            match splice(from, None, &self.pipe_w, None, want, SpliceFlags::MOVE) {
                Err(Errno::INTR) => continue,
                Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {
                    return Ok(Moved::Unsupported)
                }
                r => break r?,
            }
        };
        let mut left = n;
        while left > 0 {
            match splice(&self.pipe_r, None, to, None, left, SpliceFlags::MOVE) {
                Err(Errno::INTR) => continue,
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(m) => left -= m,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Moved::Bytes(n))
    }
}

/// How many bytes wait in `s`'s receive queue.
pub fn queued(s: &UnixStream) -> std::io::Result<usize> {
    Ok(rustix::io::ioctl_fionread(s)? as usize)
}

/// The `scm_fds` count of a socket's fdinfo, read from its start.
fn scm_fds(fdinfo: &File) -> Option<u64> {
    let mut buf = [0u8; 512];
    let n = fdinfo.read_at(&mut buf, 0).ok()?;
    let text = std::str::from_utf8(&buf[..n]).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("scm_fds:"))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::{recv_with_fds, send_with_fds};
    use std::io::{Read, Write};

    #[test]
    fn descriptors_in_the_queue_are_seen() {
        let (a, b) = UnixStream::pair().unwrap();
        let sp = Splicer::keeping_descriptors(&b).expect("scm_fds in fdinfo");
        assert!(!sp.descriptors_queued());
        (&a).write_all(&[1u8; 1000]).unwrap();
        assert!(!sp.descriptors_queued());
        let (r, _w) = std::io::pipe().unwrap();
        send_with_fds(&a, b"x", &[OwnedFd::from(r)]).unwrap();
        assert!(sp.descriptors_queued());
        assert_eq!(queued(&b).unwrap(), 1001);
        let mut buf = vec![0u8; 4096];
        let mut fds = vec![];
        // the kernel hands the descriptors over with the bytes before them
        assert_eq!(recv_with_fds(&b, &mut buf, &mut fds).unwrap(), 1001);
        assert_eq!(fds.len(), 1);
        assert!(!sp.descriptors_queued());
    }

    #[test]
    fn transfer_moves_bytes_and_sees_the_end() {
        let (a, b) = UnixStream::pair().unwrap();
        let (c, d) = UnixStream::pair().unwrap();
        let mut sp = Splicer::new().unwrap();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let d2 = data.clone();
        let w = std::thread::spawn(move || {
            (&a).write_all(&d2).unwrap();
        });
        let r = std::thread::spawn(move || {
            let mut got = vec![];
            (&d).read_to_end(&mut got).unwrap();
            got
        });
        let mut moved = 0;
        while moved < data.len() {
            match sp.transfer(&b, &c, data.len() - moved).unwrap() {
                Moved::Bytes(n) => {
                    assert!(n > 0);
                    moved += n;
                }
                Moved::Unsupported => panic!("unix sockets splice"),
            }
        }
        w.join().unwrap();
        drop(c);
        assert_eq!(r.join().unwrap(), data);
        match sp.transfer(&b, &UnixStream::pair().unwrap().0, 10).unwrap() {
            Moved::Bytes(0) => {}
            _ => panic!("the end of the stream is 0 bytes"),
        }
    }
}
