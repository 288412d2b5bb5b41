//! `pv-fd-log` subscriptions and the readers of subscribed fds.

use std::io::{self, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::net::UnixStream;

use super::{Event, Shared, SubKey, READ_CHUNK};
use crate::fd_protocol::{self, FdAction, MESSAGE_LEN};
use crate::record::{LogRecord, Payload};
use crate::Level;

fn recv_part(
    stream: &UnixStream,
    pending: &mut Vec<u8>,
    fds: &mut Vec<OwnedFd>,
) -> io::Result<usize> {
    let mut chunk = [0u8; MESSAGE_LEN];
    let want = MESSAGE_LEN - pending.len();
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(4))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut iov = [IoSliceMut::new(&mut chunk[..want])];
    let r = recvmsg(
        stream,
        &mut iov,
        &mut control,
        RecvFlags::DONTWAIT | RecvFlags::CMSG_CLOEXEC,
    )?;
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = msg {
            fds.extend(received);
        }
    }
    pending.extend_from_slice(&chunk[..r.bytes]);
    Ok(r.bytes)
}

pub(super) async fn serve_fd(stream: UnixStream, shared: Arc<Shared>) {
    let mut pending = Vec::with_capacity(MESSAGE_LEN);
    let mut fds = Vec::new();
    loop {
        if stream.readable().await.is_err() {
            break;
        }
        let n = match stream.try_io(Interest::READABLE, || {
            recv_part(&stream, &mut pending, &mut fds)
        }) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        if n == 0 {
            break;
        }
        if pending.len() < MESSAGE_LEN {
            continue;
        }
        let mut msg = [0u8; MESSAGE_LEN];
        msg.copy_from_slice(&pending);
        pending.clear();
        let fd = if fds.is_empty() {
            None
        } else {
            Some(fds.remove(0))
        };
        fds.clear();
        handle_fd_request(&shared, &msg, fd);
    }
}

fn handle_fd_request(shared: &Arc<Shared>, msg: &[u8; MESSAGE_LEN], fd: Option<OwnedFd>) {
    let Some(req) = fd_protocol::decode(msg) else {
        shared.note(
            Level::Warn,
            "dropped fd subscription with an unknown action".into(),
        );
        return;
    };
    if req.platform.is_empty() || req.source.is_empty() {
        shared.note(
            Level::Warn,
            "dropped fd subscription without platform or source".into(),
        );
        return;
    }
    match (req.action, fd) {
        (FdAction::Subscribe, Some(fd)) => {
            shared.subscribe(&req.platform, &req.source, req.level, fd);
            shared.note(
                Level::Debug,
                format!("fd subscribed for {}:{}", req.platform, req.source),
            );
        }
        (FdAction::Subscribe, None) => shared.note(
            Level::Warn,
            format!(
                "fd subscription for {}:{} came without an fd",
                req.platform, req.source
            ),
        ),
        (FdAction::Unsubscribe, _) => {
            if shared.unsubscribe(&req.platform, &req.source) {
                shared.note(
                    Level::Debug,
                    format!("fd unsubscribed for {}:{}", req.platform, req.source),
                );
            }
        }
    }
}

pub(super) async fn read_subscribed_fd(
    fd: OwnedFd,
    key: SubKey,
    level: Level,
    id: u64,
    shared: Arc<Shared>,
) {
    let (platform, source) = (&key.0, &key.1);
    let _ = rustix::io::ioctl_fionbio(&fd, true);
    // `with_interest` is deprecated because a non-owning `T` could let the fd
    // be closed while registered; an `OwnedFd` owns it, so this use is sound.
    #[allow(deprecated)]
    let registered = AsyncFd::with_interest(fd, Interest::READABLE);
    let afd = match registered {
        Ok(a) => a,
        Err(e) => {
            shared.note(
                Level::Warn,
                format!("cannot poll fd subscribed for {platform}:{source}: {e}"),
            );
            shared.forget_sub(&key, id);
            return;
        }
    };
    let mut buf = vec![0u8; READ_CHUNK.min(shared.max_message.max(1))];
    loop {
        let Ok(mut guard) = afd.readable().await else {
            break;
        };
        let n = match guard.try_io(|inner| {
            rustix::io::read(inner.get_ref(), &mut buf[..]).map_err(io::Error::from)
        }) {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => n,
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            Ok(Err(_)) => break,
            Err(_would_block) => continue,
        };
        let rec = LogRecord::now(level, platform, source, buf[..n].to_vec(), Payload::Raw);
        if !shared.send(Event::Log(rec)) {
            break;
        }
    }
    shared.forget_sub(&key, id);
}
