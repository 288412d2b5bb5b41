//! The `pv-fd-log` subscription message: four iovec parts — platform
//! (50 bytes, NUL padded), source (50 bytes), level (native `int`) and
//! action (native `int`: 1 subscribe, 0 unsubscribe) — with the fd to read
//! passed as `SCM_RIGHTS` (absent for an unsubscribe).

use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};

use crate::{Level, LogError};

/// Size of the platform and source fields.
pub const NAME_LEN: usize = 50;
/// Size of a whole subscription message.
pub const MESSAGE_LEN: usize = NAME_LEN * 2 + 8;

/// What a subscription message asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdAction {
    /// 0: stop reading the fd of (platform, source).
    Unsubscribe,
    /// 1: read the passed fd, replacing any previous one.
    Subscribe,
}

/// A decoded subscription message (without its fd).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdRequest {
    /// Platform (container) name.
    pub platform: String,
    /// Source name.
    pub source: String,
    /// Level given to every line read from the fd (0..=6; other values are
    /// taken as INFO).
    pub level: Level,
    /// Subscribe or unsubscribe.
    pub action: FdAction,
}

fn name_field(b: &[u8]) -> String {
    let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Decode a [`MESSAGE_LEN`]-byte message; `None` for an unknown action.
pub fn decode(msg: &[u8; MESSAGE_LEN]) -> Option<FdRequest> {
    let level = i32::from_ne_bytes(msg[100..104].try_into().ok()?);
    let action = match i32::from_ne_bytes(msg[104..108].try_into().ok()?) {
        0 => FdAction::Unsubscribe,
        1 => FdAction::Subscribe,
        _ => return None,
    };
    Some(FdRequest {
        platform: name_field(&msg[..NAME_LEN]),
        source: name_field(&msg[NAME_LEN..NAME_LEN * 2]),
        level: Level::from_number(i64::from(level)).unwrap_or(Level::Info),
        action,
    })
}

fn name_bytes(name: &str) -> Result<[u8; NAME_LEN], LogError> {
    let b = name.as_bytes();
    if b.is_empty() || b.len() >= NAME_LEN || b.contains(&0) {
        return Err(LogError::InvalidName(name.to_string()));
    }
    let mut out = [0u8; NAME_LEN];
    out[..b.len()].copy_from_slice(b);
    Ok(out)
}

/// Send one subscription message over a connected `pv-fd-log` stream.
pub fn send_request(
    stream: &UnixStream,
    platform: &str,
    source: &str,
    level: Level,
    action: FdAction,
    fd: Option<BorrowedFd<'_>>,
) -> Result<(), LogError> {
    let plat = name_bytes(platform)?;
    let src = name_bytes(source)?;
    let lvl = i32::from(level.number()).to_ne_bytes();
    let act = match action {
        FdAction::Unsubscribe => 0i32,
        FdAction::Subscribe => 1,
    }
    .to_ne_bytes();
    let iov = [
        IoSlice::new(&plat),
        IoSlice::new(&src),
        IoSlice::new(&lvl),
        IoSlice::new(&act),
    ];
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds;
    if let Some(fd) = fd {
        fds = [fd];
        control.push(SendAncillaryMessage::ScmRights(&fds));
    }
    let sent =
        sendmsg(stream, &iov, &mut control, SendFlags::empty()).map_err(|e| LogError::Socket {
            op: "send fd subscription on",
            path: Default::default(),
            source: e.into(),
        })?;
    if sent != MESSAGE_LEN {
        return Err(LogError::Socket {
            op: "send fd subscription on",
            path: Default::default(),
            source: std::io::Error::new(std::io::ErrorKind::WriteZero, "short write"),
        });
    }
    Ok(())
}

/// Connect to the `pv-fd-log` socket at `socket` and subscribe `fd` as
/// (platform, source), as a container or the runtime would.
pub fn subscribe(
    socket: &Path,
    platform: &str,
    source: &str,
    level: Level,
    fd: impl AsFd,
) -> Result<(), LogError> {
    let stream = connect(socket)?;
    send_request(
        &stream,
        platform,
        source,
        level,
        FdAction::Subscribe,
        Some(fd.as_fd()),
    )
}

/// Connect to the `pv-fd-log` socket and unsubscribe (platform, source).
pub fn unsubscribe(socket: &Path, platform: &str, source: &str) -> Result<(), LogError> {
    let stream = connect(socket)?;
    send_request(
        &stream,
        platform,
        source,
        Level::Info,
        FdAction::Unsubscribe,
        None,
    )
}

fn connect(socket: &Path) -> Result<UnixStream, LogError> {
    UnixStream::connect(socket).map_err(|e| LogError::Socket {
        op: "connect to",
        path: socket.to_path_buf(),
        source: e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_fields() {
        let mut m = [0u8; MESSAGE_LEN];
        m[..3].copy_from_slice(b"app");
        m[50..53].copy_from_slice(b"out");
        m[100..104].copy_from_slice(&2i32.to_ne_bytes());
        m[104..108].copy_from_slice(&1i32.to_ne_bytes());
        let r = decode(&m).unwrap();
        assert_eq!(
            r,
            FdRequest {
                platform: "app".into(),
                source: "out".into(),
                level: Level::Warn,
                action: FdAction::Subscribe
            }
        );
        m[104..108].copy_from_slice(&5i32.to_ne_bytes());
        assert_eq!(decode(&m), None);
        m[104..108].copy_from_slice(&0i32.to_ne_bytes());
        m[100..104].copy_from_slice(&99i32.to_ne_bytes());
        let r = decode(&m).unwrap();
        assert_eq!((r.action, r.level), (FdAction::Unsubscribe, Level::Info));
    }

    #[test]
    fn names_checked() {
        assert!(name_bytes("").is_err());
        assert!(name_bytes(&"x".repeat(50)).is_err());
        assert!(name_bytes(&"x".repeat(49)).is_ok());
    }
}
