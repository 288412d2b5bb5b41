//! Log levels as the runtime numbers them (`PV_LOG_LEVEL`).

use std::fmt;

/// A log level. The numeric value is what `PV_LOG_LEVEL` and the legacy
/// binary protocol carry: a message passes a filter set to `n` when its level
/// number is `<= n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// 0
    Fatal = 0,
    /// 1
    Error = 1,
    /// 2
    Warn = 2,
    /// 3
    Info = 3,
    /// 4
    Debug = 4,
    /// 5
    Trace = 5,
    /// 6: everything
    All = 6,
}

impl Level {
    /// Every level, lowest number first.
    pub const ALL_LEVELS: [Level; 7] = [
        Level::Fatal,
        Level::Error,
        Level::Warn,
        Level::Info,
        Level::Debug,
        Level::Trace,
        Level::All,
    ];

    /// The upper-case name written in log lines (`INFO`, `WARN`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Level::Fatal => "FATAL",
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
            Level::All => "ALL",
        }
    }

    /// The level with number `n` (0..=6).
    pub fn from_number(n: i64) -> Option<Level> {
        Level::ALL_LEVELS.get(usize::try_from(n).ok()?).copied()
    }

    /// The level `PV_LOG_LEVEL` sets, as the original reads the number:
    /// below 0 is FATAL, above 6 is ALL (the one place the configured
    /// number is interpreted).
    pub fn from_config(n: i64) -> Level {
        Level::from_number(n.clamp(0, Level::All as i64)).unwrap_or(Level::All)
    }

    /// Parse a level name, case-insensitively (`info`, `WARN`, ...).
    pub fn from_name(name: &str) -> Option<Level> {
        let upper = name.trim().to_ascii_uppercase();
        Level::ALL_LEVELS
            .iter()
            .copied()
            .find(|l| l.name() == upper)
    }

    /// Map a syslog severity (the low 3 bits of PRI) to a level:
    /// 0–1 FATAL, 2–3 ERROR, 4 WARN, 5–6 INFO, 7 DEBUG.
    pub fn from_syslog_severity(severity: u8) -> Level {
        match severity & 0x07 {
            0 | 1 => Level::Fatal,
            2 | 3 => Level::Error,
            4 => Level::Warn,
            5 | 6 => Level::Info,
            _ => Level::Debug,
        }
    }

    /// The numeric value.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// True if a message of this level passes a filter set to `max`.
    pub fn passes(self, max: Level) -> bool {
        self <= max
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names_round_trip() {
        for l in Level::ALL_LEVELS {
            assert_eq!(Level::from_number(l.number() as i64), Some(l));
            assert_eq!(Level::from_name(&l.name().to_lowercase()), Some(l));
        }
        assert_eq!(Level::from_number(7), None);
        assert_eq!(Level::from_number(-1), None);
        assert_eq!(Level::from_name("warning"), None);
    }

    #[test]
    fn configured_numbers_clamp() {
        assert_eq!(Level::from_config(i64::MIN), Level::Fatal);
        assert_eq!(Level::from_config(-1), Level::Fatal);
        assert_eq!(Level::from_config(0), Level::Fatal);
        assert_eq!(Level::from_config(4), Level::Debug);
        assert_eq!(Level::from_config(6), Level::All);
        assert_eq!(Level::from_config(42), Level::All);
    }

    #[test]
    fn syslog_map() {
        let got: Vec<_> = (0..8).map(Level::from_syslog_severity).collect();
        use Level::*;
        assert_eq!(got, [Fatal, Fatal, Error, Error, Warn, Info, Info, Debug]);
    }

    #[test]
    fn filter() {
        assert!(Level::Error.passes(Level::Info));
        assert!(Level::Info.passes(Level::Info));
        assert!(!Level::Debug.passes(Level::Info));
        assert!(Level::Fatal.passes(Level::Fatal));
    }
}
