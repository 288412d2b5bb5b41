//! The log server configuration, as a plain struct the runtime fills from
//! its `PV_LOG_*` keys.

use std::path::PathBuf;

use crate::{Level, LogError};

/// Where each message goes (`PV_LOG_SERVER_OUTPUTS`, a comma list). The
/// update sink is not listed here: it is always on while an update is
/// tracked ([`crate::LogHandle::start_update`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outputs {
    /// `filetree`: `<logs>/<rev>/<platform>/<source>`.
    pub filetree: bool,
    /// `singlefile`: JSON lines in `<logs>/<rev>/pv.log`.
    pub singlefile: bool,
    /// `stdout`: every message to standard output.
    pub stdout: bool,
    /// `stdout.pantavisor`: only the runtime's own messages to stdout.
    pub stdout_pantavisor: bool,
    /// `stdout.containers`: only container messages to stdout.
    pub stdout_containers: bool,
    /// `stdout_direct`: the runtime's own messages are printed by the caller
    /// of [`crate::LogHandle::log`], bypassing the server.
    pub stdout_direct: bool,
    /// `nullsink`: accepted and discarded.
    pub nullsink: bool,
}

impl Outputs {
    /// The default: `filetree` only.
    pub fn filetree_only() -> Self {
        Outputs {
            filetree: true,
            ..Outputs::default()
        }
    }

    /// Parse a comma-separated list such as `"filetree,stdout"`. Blank items
    /// are ignored; an unknown name is an error.
    pub fn parse(list: &str) -> Result<Self, LogError> {
        let mut out = Outputs::default();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item {
                "filetree" => out.filetree = true,
                "singlefile" => out.singlefile = true,
                "stdout" => out.stdout = true,
                "stdout.pantavisor" => out.stdout_pantavisor = true,
                "stdout.containers" => out.stdout_containers = true,
                "stdout_direct" => out.stdout_direct = true,
                "nullsink" => out.nullsink = true,
                other => return Err(LogError::UnknownOutput(other.to_string())),
            }
        }
        Ok(out)
    }

    /// True if any stdout flavour processed by the server is on.
    pub fn any_stdout(&self) -> bool {
        self.stdout || self.stdout_pantavisor || self.stdout_containers
    }
}

/// The log directory budget (`PV_LOG_DIR_MAXSIZE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DirMaxSize {
    /// `0`: 100 % of a tmpfs, 10 % of anything else.
    #[default]
    Auto,
    /// An absolute number of bytes.
    Bytes(u64),
    /// A percentage of the partition holding the log directory.
    Percent(u8),
}

impl DirMaxSize {
    /// Parse `0`, a byte count, a count with a `K/KB/M/MB/G/GB/T/TB` suffix
    /// (case-insensitive, powers of 1024) or `N%` (1..=100).
    pub fn parse(s: &str) -> Result<Self, LogError> {
        let bad = || LogError::InvalidSize(s.to_string());
        let t = s.trim();
        if let Some(pct) = t.strip_suffix('%') {
            let n: u8 = pct.trim().parse().map_err(|_| bad())?;
            if n == 0 || n > 100 {
                return Err(bad());
            }
            return Ok(DirMaxSize::Percent(n));
        }
        let upper = t.to_ascii_uppercase();
        let digits_end = upper
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(upper.len());
        let (num, suffix) = upper.split_at(digits_end);
        let n: u64 = num.parse().map_err(|_| bad())?;
        let mult: u64 = match suffix.trim() {
            "" | "B" => 1,
            "K" | "KB" => 1 << 10,
            "M" | "MB" => 1 << 20,
            "G" | "GB" => 1 << 30,
            "T" | "TB" => 1 << 40,
            _ => return Err(bad()),
        };
        let bytes = n.checked_mul(mult).ok_or_else(bad)?;
        Ok(if bytes == 0 {
            DirMaxSize::Auto
        } else {
            DirMaxSize::Bytes(bytes)
        })
    }
}

/// What `tsec` holds (`PV_LOG_TIMESTAMP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampMode {
    /// Seconds of the monotonic clock (time since boot).
    #[default]
    Relative,
    /// Seconds since the Unix epoch.
    Absolute,
}

impl TimestampMode {
    /// Parse `relative` / `absolute`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "relative" => Some(TimestampMode::Relative),
            "absolute" => Some(TimestampMode::Absolute),
            _ => None,
        }
    }
}

/// Everything the log server needs. Paths are absolute on a device; tests
/// point them into temporary directories.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// `PV_SYSTEM_RUNDIR`: `pv-ctrl-log` and `pv-fd-log` are created here.
    pub run_dir: PathBuf,
    /// `PV_LOG_DIR`: root of the filetree (`<logs>/<rev>/...`).
    pub logs_dir: PathBuf,
    /// `PV_STORAGE_MNTPOINT`: the update sink writes
    /// `<storage>/trails/<rev>/.pv/logs.tmp`.
    pub storage_dir: PathBuf,
    /// The running revision at start (`None` until known: file outputs drop
    /// messages until [`crate::LogHandle::set_revision`]).
    pub revision: Option<String>,
    /// `PV_LOG_LEVEL`: messages above it are not written by filetree,
    /// singlefile or stdout outputs.
    pub level: Level,
    /// `PV_LOG_SERVER_OUTPUTS`.
    pub outputs: Outputs,
    /// `PV_LOG_DIR_MAXSIZE`.
    pub dir_maxsize: DirMaxSize,
    /// `PV_LOG_HYSTERESIS_FACTOR` (default 4).
    pub hysteresis_factor: u64,
    /// `PV_LOG_ROTATE_FACTOR` (default 5).
    pub rotate_factor: u64,
    /// `PV_LOG_TIMESTAMP`.
    pub timestamp: TimestampMode,
    /// `PV_LOG_FILETREE_TIMESTAMP_FORMAT` (`golang:<Layout>` or
    /// `strftime:<fmt>`); `None` for no timestamp.
    pub filetree_timestamp_format: Option<String>,
    /// `PV_LOG_SINGLEFILE_TIMESTAMP_FORMAT`; adds a `"ts"` key when set.
    pub singlefile_timestamp_format: Option<String>,
    /// `PV_LOG_STDOUT_TIMESTAMP_FORMAT`.
    pub stdout_timestamp_format: Option<String>,
    /// Largest message accepted on `pv-ctrl-log` (`PV_LOG_BUF_NITEMS` KiB);
    /// also the read size for subscribed fds.
    pub max_message_size: usize,
    /// The only process allowed to send internal commands (binary code 256)
    /// on `pv-ctrl-log`; `None` rejects them all. Default: this process.
    pub command_pid: Option<u32>,
}

impl Default for LogConfig {
    /// The code defaults of the original: rundir `/pv`, logs
    /// `/storage/logs`, storage `/storage`, level 0, filetree, auto budget.
    fn default() -> Self {
        LogConfig {
            run_dir: PathBuf::from("/pv"),
            logs_dir: PathBuf::from("/storage/logs"),
            storage_dir: PathBuf::from("/storage"),
            revision: None,
            level: Level::Fatal,
            outputs: Outputs::filetree_only(),
            dir_maxsize: DirMaxSize::Auto,
            hysteresis_factor: 4,
            rotate_factor: 5,
            timestamp: TimestampMode::Relative,
            filetree_timestamp_format: None,
            singlefile_timestamp_format: None,
            stdout_timestamp_format: None,
            max_message_size: 128 * 1024,
            command_pid: Some(std::process::id()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_parse() {
        let o = Outputs::parse("filetree, stdout.containers,,nullsink").unwrap();
        assert!(o.filetree && o.stdout_containers && o.nullsink);
        assert!(!o.singlefile && !o.stdout);
        assert_eq!(Outputs::parse("").unwrap(), Outputs::default());
        assert!(matches!(
            Outputs::parse("filetree,bogus"),
            Err(LogError::UnknownOutput(n)) if n == "bogus"
        ));
    }

    #[test]
    fn size_parse() {
        assert_eq!(DirMaxSize::parse("0").unwrap(), DirMaxSize::Auto);
        assert_eq!(
            DirMaxSize::parse("16777216").unwrap(),
            DirMaxSize::Bytes(16 << 20)
        );
        assert_eq!(
            DirMaxSize::parse("512K").unwrap(),
            DirMaxSize::Bytes(512 << 10)
        );
        assert_eq!(
            DirMaxSize::parse("256MB").unwrap(),
            DirMaxSize::Bytes(256 << 20)
        );
        assert_eq!(
            DirMaxSize::parse("1gb").unwrap(),
            DirMaxSize::Bytes(1 << 30)
        );
        assert_eq!(DirMaxSize::parse("2T").unwrap(), DirMaxSize::Bytes(2 << 40));
        assert_eq!(DirMaxSize::parse(" 20% ").unwrap(), DirMaxSize::Percent(20));
        for bad in ["", "abc", "10X", "0%", "101%", "-5", "1.5M"] {
            assert!(DirMaxSize::parse(bad).is_err(), "{bad}");
        }
    }
}
