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
/// copied.
pub fn pump(from: &UnixStream, to: &UnixStream) -> std::io::Result<u64> {
    let mut buf = vec![0u8; BUF];
    let mut fds = Vec::new();
    let mut total = 0u64;
    let r = loop {
        fds.clear();
        let n = match recv_with_fds(from, &mut buf, &mut fds) {
            Ok(n) => n,
            Err(e) => break Err(e),
        };
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
}
