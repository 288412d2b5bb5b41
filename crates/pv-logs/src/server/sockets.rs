//! The socket side: accepting connections and decoding `pv-ctrl-log`.

use std::os::unix::net::UnixListener as StdUnixListener;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::oneshot;

use super::{fds, Event, Shared, IDLE_FLUSH, READ_CHUNK};
use crate::framing::{self, Decoded, Framer};
use crate::platform::UNKNOWN_PLATFORM;
use crate::proto_binary::Command;
use crate::Level;

pub(super) async fn io_main(
    ctrl: StdUnixListener,
    fdl: StdUnixListener,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    let (ctrl, fdl) = match (UnixListener::from_std(ctrl), UnixListener::from_std(fdl)) {
        (Ok(c), Ok(f)) => (c, f),
        (Err(e), _) | (_, Err(e)) => {
            shared.note(Level::Error, format!("cannot serve log sockets: {e}"));
            return;
        }
    };
    loop {
        tokio::select! {
            _ = &mut stop => break,
            r = ctrl.accept() => match r {
                Ok((s, _)) => {
                    tokio::spawn(serve_ctrl(s, Arc::clone(&shared)));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            r = fdl.accept() => match r {
                Ok((s, _)) => {
                    tokio::spawn(fds::serve_fd(s, Arc::clone(&shared)));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
        }
    }
}

async fn serve_ctrl(mut stream: UnixStream, shared: Arc<Shared>) {
    let pid = stream
        .peer_cred()
        .ok()
        .and_then(|c| c.pid())
        .and_then(|p| u32::try_from(p).ok());
    let platform = pid
        .and_then(|p| shared.resolver.platform_of(p))
        .unwrap_or_else(|| UNKNOWN_PLATFORM.to_string());
    let mut framer = Framer::new(shared.max_message);
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let read = if framer.has_partial() {
            tokio::time::timeout(IDLE_FLUSH, stream.read(&mut buf))
                .await
                .ok()
        } else {
            Some(stream.read(&mut buf).await)
        };
        match read {
            None => {
                while let Some(f) = framer.flush_idle() {
                    process_frame(&shared, f, &platform, pid);
                }
            }
            Some(Ok(0)) | Some(Err(_)) => {
                while let Some(f) = framer.flush() {
                    process_frame(&shared, f, &platform, pid);
                }
                break;
            }
            Some(Ok(n)) => {
                framer.push(&buf[..n]);
                while let Some(f) = framer.next_frame() {
                    process_frame(&shared, f, &platform, pid);
                }
            }
        }
    }
}

fn process_frame(shared: &Shared, frame: framing::Frame, platform: &str, pid: Option<u32>) {
    match framing::decode(frame, platform) {
        Ok(Decoded::Log(rec)) => {
            shared.send(Event::Log(rec));
        }
        Ok(Decoded::Command(cmd)) => {
            if shared.command_pid.is_none() || pid != shared.command_pid {
                shared.note(
                    Level::Warn,
                    format!(
                        "log server command from pid {} refused: only pid {:?} may send commands",
                        pid.map_or(-1, i64::from),
                        shared.command_pid
                    ),
                );
                return;
            }
            match cmd {
                Command::Exit => shared.request_io_stop(),
                Command::StartUpdate(rev) => {
                    shared.send(Event::StartUpdate(rev));
                }
                Command::StopUpdate => {
                    shared.send(Event::StopUpdate(None));
                }
            }
        }
        Err(e) => shared.note(
            Level::Warn,
            format!("dropped invalid log message from {platform}: {e}"),
        ),
    }
}
