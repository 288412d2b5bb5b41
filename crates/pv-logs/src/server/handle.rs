//! [`LogHandle`]: the runtime's side of the server.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use super::{Event, Shared};
use crate::record::{LogRecord, Payload};
use crate::{Level, LogError};

/// A cheap, cloneable way to log and steer the server from the runtime.
/// Every method works from any thread, sync or async, and never blocks
/// except the ones with a timeout.
#[derive(Clone)]
pub struct LogHandle {
    pub(super) shared: Arc<Shared>,
}

impl LogHandle {
    /// Log one of the runtime's own messages (platform `pantavisor`) or a
    /// message on behalf of a container. A newline is added in raw
    /// container files.
    pub fn log(&self, level: Level, platform: &str, source: &str, msg: &str) {
        if !self.wants(level) {
            return;
        }
        let rec = LogRecord::now(
            level,
            platform,
            source,
            msg.as_bytes().to_vec(),
            Payload::Line,
        );
        let d = &self.shared.direct;
        let direct = d.outputs.stdout_direct && (level.passes(d.level) || level == Level::Fatal);
        if direct {
            d.print(&rec);
        }
        if !self.is_running() {
            self.fallback(&rec, direct);
            return;
        }
        if let Err(mpsc::SendError(Event::Log(rec))) = self.shared.tx.send(Event::Log(rec)) {
            self.fallback(&rec, direct);
        }
    }

    /// Whether a message at `level` would be written anywhere: it passes
    /// the configured level (`PV_LOG_LEVEL`), or it is an error, which the
    /// update's log keeps whatever the level. Callers check this before
    /// they format a message.
    pub fn wants(&self, level: Level) -> bool {
        level <= Level::Error || level.passes(self.shared.direct.level)
    }

    fn fallback(&self, rec: &LogRecord, already_printed: bool) {
        let d = &self.shared.direct;
        if !already_printed
            && (d.outputs.any_stdout() || d.outputs.stdout_direct)
            && (rec.level.passes(d.level) || rec.level == Level::Fatal)
        {
            d.print(rec);
        }
    }

    /// Read `fd` (a pipe, pty, socket...) and log what comes out as
    /// (platform, source) at `level`, replacing any fd already subscribed
    /// for that pair. The server owns and closes the fd.
    pub fn subscribe_fd(
        &self,
        platform: &str,
        source: &str,
        level: Level,
        fd: OwnedFd,
    ) -> Result<(), LogError> {
        if !self.is_running() {
            return Err(LogError::NotRunning);
        }
        if platform.is_empty() || source.is_empty() {
            return Err(LogError::InvalidName(format!("{platform}/{source}")));
        }
        self.shared.subscribe(platform, source, level, fd);
        Ok(())
    }

    /// Stop reading the fd of (platform, source); false if none was.
    pub fn unsubscribe_fd(&self, platform: &str, source: &str) -> bool {
        self.shared.unsubscribe(platform, source)
    }

    /// Switch the running revision (non-reboot transition): new lines land
    /// in `<logs>/<rev>/`.
    pub fn set_revision(&self, rev: &str) {
        self.shared.send(Event::SetRevision(rev.to_string()));
    }

    /// Start the update sink: ERROR/FATAL lines are appended to
    /// `<storage>/trails/<rev>/.pv/logs.tmp`.
    pub fn start_update(&self, rev: &str) {
        self.shared.send(Event::StartUpdate(rev.to_string()));
    }

    /// Stop the update sink and promote `.pv/logs.tmp` to `.pv/logs`,
    /// waiting up to `timeout` for it. Returns the promoted file (`None` if
    /// no line was collected or no update was tracked).
    pub fn stop_update(&self, timeout: Duration) -> Result<Option<PathBuf>, LogError> {
        let (tx, rx) = mpsc::sync_channel(1);
        if !self.shared.send(Event::StopUpdate(Some(tx))) {
            return Err(LogError::NotRunning);
        }
        match rx.recv_timeout(timeout) {
            Ok(r) => r,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(LogError::Timeout(timeout)),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(LogError::NotRunning),
        }
    }

    /// Wait until everything queued before this call has been written.
    /// False on timeout or if the server is gone.
    pub fn flush(&self, timeout: Duration) -> bool {
        let (tx, rx) = mpsc::sync_channel(1);
        self.shared.send(Event::Flush(tx)) && rx.recv_timeout(timeout).is_ok()
    }

    /// True until the server is stopped.
    pub fn is_running(&self) -> bool {
        self.shared.running.load(Ordering::SeqCst)
    }
}

impl std::fmt::Debug for LogHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogHandle").finish_non_exhaustive()
    }
}
