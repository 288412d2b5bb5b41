//! The Pantavisor log server.
//!
//! The runtime starts one [`LogServer`] per boot. It listens on two Unix
//! stream sockets in the run directory:
//!
//! - `pv-ctrl-log`: log messages, each auto-detected as the binary legacy
//!   struct (code 0, or code 256 for internal commands), RFC 5424, RFC 3164,
//!   JSON (`{"version":"0","level":…,"src":…,"message":…}`) or key-value
//!   (`level=… src=… message=…`). For all but the binary form the platform
//!   is the sender's container, found from its pid (`SO_PEERCRED`) through a
//!   [`PlatformResolver`] (by default its `/proc/<pid>/cgroup`). Invalid
//!   messages are dropped with a WARN.
//! - `pv-fd-log`: fd subscriptions (`SCM_RIGHTS` plus a 4-part message, see
//!   [`fd_protocol`]); the server reads the fd and logs what comes out as
//!   (platform, source).
//!
//! The runtime itself logs and steers through a [`LogHandle`]: own
//! messages, container console/pipe fds, revision switches and the update
//! sink. Records are written, in order, by one writer thread to the outputs
//! of `PV_LOG_SERVER_OUTPUTS` ([`Outputs`]): the filetree
//! (`<logs>/<rev>/<platform>/<source>`, the runtime's own lines formatted in
//! `<logs>/<rev>/pantavisor/pantavisor.log`), the singlefile
//! (`<logs>/<rev>/pv.log`, JSON lines), stdout variants; plus the update sink
//! (`<storage>/trails/<rev>/.pv/logs.tmp`, ERROR and FATAL only, promoted
//! to `.pv/logs` when the update ends). The directory is kept within
//! `PV_LOG_DIR_MAXSIZE` (see [`rotation`]).
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use pv_logs::{CgroupResolver, Level, LogConfig, LogServer, Outputs};
//!
//! let cfg = LogConfig {
//!     run_dir: "/run/pantavisor/pv".into(),
//!     logs_dir: "/var/pantavisor/storage/logs".into(),
//!     storage_dir: "/var/pantavisor/storage".into(),
//!     revision: Some("0".into()),
//!     level: Level::Info,
//!     outputs: Outputs::parse("filetree").unwrap(),
//!     ..LogConfig::default()
//! };
//! // appengine: LXC names containers `name-N`
//! let server = LogServer::start_with_resolver(cfg, Arc::new(CgroupResolver::new(true))).unwrap();
//! let log = server.handle();
//! log.log(Level::Info, "pantavisor", "controller", "starting revision 0");
//! // a container's console: hand the pty/pipe read end to the server
//! # let console_fd: std::os::fd::OwnedFd = todo!();
//! log.subscribe_fd("app1", "lxc/console.log", Level::Info, console_fd).unwrap();
//! log.start_update("locals/t1");
//! // ... update runs; ERROR/FATAL lines go to trails/locals/t1/.pv/logs.tmp
//! let promoted = log.stop_update(Duration::from_secs(5)).unwrap();
//! log.set_revision("locals/t1"); // non-reboot transition
//! server.stop().unwrap();
//! # let _ = promoted;
//! ```

mod config;
mod error;
pub mod fd_protocol;
pub mod format;
pub mod framing;
mod level;
pub mod platform;
pub mod proto_binary;
pub mod proto_syslog;
pub mod proto_text;
mod record;
pub mod rotation;
mod server;
mod sinks;

pub use config::{DirMaxSize, LogConfig, Outputs, TimestampMode};
pub use error::LogError;
pub use level::Level;
pub use platform::{
    CgroupResolver, FixedResolver, PlatformResolver, PANTAVISOR_PLATFORM, UNKNOWN_PLATFORM,
};
pub use record::{LogRecord, Payload};
pub use rotation::Watermarks;
pub use server::{LogHandle, LogServer, CTRL_SOCKET, FD_SOCKET, SERVER_SOURCE};
pub use sinks::{
    read_update_logs, update_log_path, PANTAVISOR_LOG, SINGLEFILE_LOG, UPDATE_LOGS, UPDATE_LOGS_TMP,
};
