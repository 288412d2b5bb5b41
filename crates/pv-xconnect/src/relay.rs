//! Byte relays between two Unix stream sockets that keep what rides along:
//! descriptors passed with `SCM_RIGHTS` arrive on the other side attached
//! to the same bytes (shared memory handles, Wayland buffers, pipes).

use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;

use rustix::net::{
    recvmsg, sendmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, Shutdown,
};

use crate::splice::{queued, Moved, Splicer, SPLICE_MIN};

/// Relay buffer size: large enough that bulk transfers move in few calls.
pub const BUF: usize = 256 * 1024;
/// Most descriptors one message can carry (the kernel's SCM_MAX_FD).
const MAX_FDS: usize = 253;

/// Read what `from` has (with any descriptors), up to `buf.len()` bytes.
/// `Ok((0, _))` is the end of the stream.
pub fn recv_with_fds(
    from: &UnixStream,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
) -> std::io::Result<usize> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut anc = RecvAncillaryBuffer::new(&mut space);
    let r = loop {
        match recvmsg(
            from,
            &mut [IoSliceMut::new(buf)],
            &mut anc,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Err(rustix::io::Errno::INTR) => continue,
            r => break r?,
        }
    };
    for m in anc.drain() {
        if let RecvAncillaryMessage::ScmRights(got) = m {
            fds.extend(got);
        }
    }
    Ok(r.bytes)
}

/// Write all of `data` to `to`, the descriptors with the first bytes.
pub fn send_with_fds(to: &UnixStream, mut data: &[u8], fds: &[OwnedFd]) -> std::io::Result<()> {
    let borrowed: Vec<_> = fds.iter().map(|f| f.as_fd()).collect();
    let mut first = !borrowed.is_empty();
    while !data.is_empty() || first {
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
        let mut anc = SendAncillaryBuffer::new(&mut space);
        if first && !anc.push(SendAncillaryMessage::ScmRights(&borrowed)) {
            return Err(std::io::Error::other("too many descriptors"));
        }
        let n = match sendmsg(
            to,
            &[std::io::IoSlice::new(data)],
            &mut anc,
            SendFlags::NOSIGNAL,
        ) {
            Err(rustix::io::Errno::INTR) => continue,
            r => r?,
        };
        first = false;
        data = &data[n..];
    }
    Ok(())
}

/// Copy `from` → `to` until `from` ends, descriptors included; then
/// half-close `to` so the other side sees the end too. Returns the bytes
/// copied. A receive that fills [`SPLICE_MIN`] bytes announces a bulk
/// transfer: what is queued behind it moves by splice ([`crate::splice`])
/// as long as no descriptor rides along. Small messages (one receive, one
/// send, as without splicing), descriptors, and everything where splice
/// cannot tell or do it go through recvmsg and sendmsg.
pub fn pump(from: &UnixStream, to: &UnixStream) -> std::io::Result<u64> {
    let mut splicer = Splicer::keeping_descriptors(from);
    let mut buf = vec![0u8; BUF];
    let mut fds = Vec::new();
    let mut total = 0u64;
    let mut bulk = false;
    let r = loop {
        if let Some(sp) = splicer.as_mut().filter(|_| bulk) {
            match splice_queued(sp, from, to) {
                Ok(Some(n)) => {
                    total += n as u64;
                    // a short run ends the bulk transfer: what follows is
                    // received until a full receive announces the next
                    bulk = n >= SPLICE_MIN;
                    continue;
                }
                Ok(None) => {}
                Err(SpliceFailed::Unsupported) => splicer = None,
                Err(SpliceFailed::Io(e)) => break Err(e),
            }
        }
        fds.clear();
        // asleep in poll, not in recvmsg: `from` is also the socket the
        // other direction writes to, and a receive waits on its one queue
        // of sleepers, woken each time the peer made room for that other
        // direction's bytes; poll waits for input only (a direction with
        // nothing to carry slept through ~4,500 such wakeups per GiB the
        // other carried)
        if let Err(e) = wait_readable(from) {
            break Err(e);
        }
        let room = if splicer.is_some() { SPLICE_MIN } else { BUF };
        let n = match recv_with_fds(from, &mut buf[..room], &mut fds) {
            Ok(n) => n,
            Err(e) => break Err(e),
        };
        bulk = n == room;
        if n == 0 && fds.is_empty() {
            break Ok(total);
        }
        if let Err(e) = send_with_fds(to, &buf[..n], &fds) {
            break Err(e);
        }
        total += n as u64;
    };
    let _ = rustix::net::shutdown(to, Shutdown::Write);
    r
}

enum SpliceFailed {
    Unsupported,
    Io(std::io::Error),
}

impl From<std::io::Error> for SpliceFailed {
    fn from(e: std::io::Error) -> Self {
        SpliceFailed::Io(e)
    }
}

/// During a bulk transfer, splice what `from` has queued once it has
/// something (waiting for it here rather than in a receive, so a sender
/// that outruns the relay is not met by a 16 KiB copy each time the
/// queue ran dry) and no descriptor rides on it. `None`: receive instead
/// (descriptors queued, the end of the stream, an error to report).
fn splice_queued(
    sp: &mut Splicer,
    from: &UnixStream,
    to: &UnixStream,
) -> Result<Option<usize>, SpliceFailed> {
    let mut n = queued(from)?;
    if n == 0 {
        wait_readable(from)?;
        n = queued(from)?;
    }
    // the count first, then the descriptors: bytes counted before a
    // check that found none carry none
    if n == 0 || sp.descriptors_queued() {
        return Ok(None);
    }
    match sp.transfer(from, to, n)? {
        Moved::Bytes(0) => Ok(None),
        Moved::Bytes(k) => Ok(Some(k)),
        Moved::Unsupported => Err(SpliceFailed::Unsupported),
    }
}

/// Block until `s` has bytes or descriptors to read, its end, or an error.
fn wait_readable(s: &UnixStream) -> std::io::Result<()> {
    use rustix::event::{poll, PollFd, PollFlags};
    loop {
        match poll(&mut [PollFd::new(s, PollFlags::IN)], None) {
            Err(rustix::io::Errno::INTR) => continue,
            r => return r.map(|_| ()).map_err(Into::into),
        }
    }
}

/// Relay both ways until both directions ended (each on its own thread,
/// the calling one included).
pub fn both_ways(a: UnixStream, b: UnixStream) {
    let (a2, b2) = match (a.try_clone(), b.try_clone()) {
        (Ok(a2), Ok(b2)) => (a2, b2),
        _ => return,
    };
    let t = std::thread::spawn(move || {
        let _ = pump(&b2, &a2);
    });
    let _ = pump(&a, &b);
    let _ = t.join();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn bytes_and_descriptors_cross() {
        let (client, proxy_in) = UnixStream::pair().unwrap();
        let (proxy_out, server) = UnixStream::pair().unwrap();
        let t = std::thread::spawn(move || both_ways(proxy_in, proxy_out));
        // a pipe's read end travels with "fd"
        let (r, mut w) = std::io::pipe().unwrap();
        send_with_fds(&client, b"fd", &[OwnedFd::from(r)]).unwrap();
        let mut buf = [0u8; 16];
        let mut fds = vec![];
        let n = recv_with_fds(&server, &mut buf, &mut fds).unwrap();
        assert_eq!(&buf[..n], b"fd");
        assert_eq!(fds.len(), 1);
        w.write_all(b"through the pipe").unwrap();
        drop(w);
        let mut got = String::new();
        std::fs::File::from(fds.pop().unwrap())
            .read_to_string(&mut got)
            .unwrap();
        assert_eq!(got, "through the pipe");
        // bulk both ways, then the ends propagate
        let big = vec![7u8; 3 * BUF + 5];
        let mut c2 = client.try_clone().unwrap();
        let b2 = big.clone();
        let w = std::thread::spawn(move || {
            c2.write_all(&b2).unwrap();
            c2.shutdown(std::net::Shutdown::Write).unwrap();
        });
        let mut s = server.try_clone().unwrap();
        let mut all = vec![];
        s.read_to_end(&mut all).unwrap();
        assert_eq!(all, big);
        w.join().unwrap();
        (&server).write_all(b"bye").unwrap();
        server.shutdown(std::net::Shutdown::Write).unwrap();
        let mut back = String::new();
        (&client).read_to_string(&mut back).unwrap();
        assert_eq!(back, "bye");
        t.join().unwrap();
    }

    /// How many times the calling thread went to sleep so far.
    fn sleeps() -> u64 {
        let s = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap()
    }

    #[test]
    fn a_direction_with_nothing_to_carry_sleeps_through_the_other_s_bulk() {
        const CHUNK: usize = 256 * 1024;
        const TOTAL: usize = 64 << 20;
        let (client, proxy_in) = UnixStream::pair().unwrap();
        let (proxy_out, server) = UnixStream::pair().unwrap();
        let (in2, out2) = (
            proxy_in.try_clone().unwrap(),
            proxy_out.try_clone().unwrap(),
        );
        // server → client carries nothing until the server's last word,
        // while the server's reads keep making room on proxy_out
        let idle = std::thread::spawn(move || {
            let before = sleeps();
            let n = pump(&out2, &in2).unwrap();
            (n, sleeps() - before)
        });
        let busy = std::thread::spawn(move || pump(&proxy_in, &proxy_out).unwrap());
        let writer = std::thread::spawn(move || {
            let buf = vec![3u8; CHUNK];
            for _ in 0..TOTAL / CHUNK {
                (&client).write_all(&buf).unwrap();
            }
            client.shutdown(std::net::Shutdown::Write).unwrap();
            client
        });
        let mut buf = vec![0u8; CHUNK];
        let mut got = 0;
        loop {
            match (&server).read(&mut buf).unwrap() {
                0 => break,
                n => got += n,
            }
        }
        assert_eq!(got, TOTAL);
        (&server).write_all(b"bye").unwrap();
        server.shutdown(std::net::Shutdown::Write).unwrap();
        let client = writer.join().unwrap();
        let mut back = String::new();
        (&client).read_to_string(&mut back).unwrap();
        assert_eq!(back, "bye");
        assert_eq!(busy.join().unwrap(), TOTAL as u64);
        let (n, slept) = idle.join().unwrap();
        assert_eq!(n, 3);
        // asleep until "bye", then until the end: a few times, not once
        // for every time the server made room (hundreds for 64 MiB)
        assert!(slept <= 16, "the idle direction slept {slept} times");
    }

    /// The byte at `offset` of the interleaved stream.
    fn pattern(offset: u64) -> u8 {
        (offset % 253) as u8
    }

    #[test]
    fn bulk_and_descriptors_interleaved_keep_their_order() {
        const RUNS: u64 = 6;
        const RUN: u64 = 3 << 20;
        let (client, proxy_in) = UnixStream::pair().unwrap();
        let (proxy_out, server) = UnixStream::pair().unwrap();
        let relay = std::thread::spawn(move || both_ways(proxy_in, proxy_out));
        // RUN bytes of bulk, then 100 bytes carrying pipe i's read end;
        // the write ends stay here to tell the pipes apart
        let mut writers = vec![];
        let mut readers = vec![];
        for _ in 0..RUNS {
            let (r, w) = std::io::pipe().unwrap();
            readers.push(OwnedFd::from(r));
            writers.push(w);
        }
        let sender = std::thread::spawn(move || {
            let mut offset = 0u64;
            let mut fd_at = vec![];
            for r in readers {
                let bulk: Vec<u8> = (offset..offset + RUN).map(pattern).collect();
                (&client).write_all(&bulk).unwrap();
                offset += RUN;
                let tagged: Vec<u8> = (offset..offset + 100).map(pattern).collect();
                send_with_fds(&client, &tagged, &[r]).unwrap();
                fd_at.push(offset);
                offset += 100;
            }
            client.shutdown(std::net::Shutdown::Write).unwrap();
            (fd_at, offset)
        });
        // read in small pieces: every byte in place, and each descriptor
        // with a read that starts no later than its bytes and ends after
        // the previous descriptor's bytes
        let mut buf = vec![0u8; 64 * 1024];
        let mut offset = 0u64;
        let mut got = vec![];
        loop {
            let mut fds = vec![];
            let n = recv_with_fds(&server, &mut buf, &mut fds).unwrap();
            if n == 0 && fds.is_empty() {
                break;
            }
            for (k, b) in buf[..n].iter().enumerate() {
                assert_eq!(*b, pattern(offset + k as u64), "byte {}", offset + k as u64);
            }
            for f in fds {
                got.push((offset, offset + n as u64, f));
            }
            offset += n as u64;
        }
        let (fd_at, total) = sender.join().unwrap();
        assert_eq!(offset, total);
        assert_eq!(got.len(), RUNS as usize);
        for (i, (start, end, fd)) in got.into_iter().enumerate() {
            assert!(
                start <= fd_at[i],
                "descriptor {i} late: read from {start}, bytes at {}",
                fd_at[i]
            );
            if i > 0 {
                assert!(
                    end > fd_at[i - 1] + 100,
                    "descriptor {i} before descriptor {}'s bytes",
                    i - 1
                );
            }
            // it is pipe i: what goes into writer i comes out of it
            writers[i].write_all(&[i as u8]).unwrap();
            let mut one = [0u8; 1];
            std::fs::File::from(fd).read_exact(&mut one).unwrap();
            assert_eq!(one[0], i as u8);
        }
        server.shutdown(std::net::Shutdown::Write).unwrap();
        relay.join().unwrap();
    }
}
