//! Warnings collected while loading configuration, and hard errors.

use std::fmt;

use crate::level::Level;

/// Something in a configuration source that was ignored or translated.
/// Loading never stops on these; the caller decides how to log them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// The key is neither a canonical name nor a legacy alias.
    UnknownKey { key: String, level: Level },
    /// A legacy dotted alias was used; it was applied to `key`.
    LegacyKey { alias: String, key: &'static str },
    /// The key may not be set at this level; the value was ignored.
    NotAllowed { key: String, level: Level },
    /// The value did not parse; the previous value was kept.
    InvalidValue {
        key: &'static str,
        value: String,
        reason: String,
    },
    /// A policy name containing `/` was ignored.
    BadPolicyName { name: String },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::UnknownKey { key, level } => {
                write!(f, "unknown config key {key:?} at level '{level}'")
            }
            Warning::LegacyKey { alias, key } => {
                write!(f, "legacy config key {alias:?} is deprecated, use {key}")
            }
            Warning::NotAllowed { key, level } => {
                write!(f, "config key {key} is not allowed at level '{level}'")
            }
            Warning::InvalidValue { key, value, reason } => {
                write!(
                    f,
                    "invalid value {value:?} for {key} ({reason}); keeping the previous value"
                )
            }
            Warning::BadPolicyName { name } => {
                write!(f, "policy name {name:?} contains '/' and is ignored")
            }
        }
    }
}

/// A configuration source that could not be used at all.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Reading or writing a file failed (the error names the path).
    #[error(transparent)]
    Fs(#[from] pv_fs::FsError),
}
