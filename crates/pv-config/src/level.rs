//! Configuration levels (where a value came from) and the per-key masks of
//! levels allowed to set it.

use std::fmt;

/// Where a configuration value came from, in precedence order: a value set
/// at a level never gives way to one set at a lower level.
///
/// The display strings are the ones the control API reports in the
/// `modified` field of `GET /config2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// The built-in default.
    Default,
    /// Bare argv words (`pv_debug`, `pv_appengine`, ...).
    Args,
    /// `pantavisor.config` (or `--config <path>`).
    PvConf,
    /// `pantahub.config`.
    PhConf,
    /// Written by the Hub client (credentials after registration).
    HubClient,
    /// `<etc>/policies/<name>.config`.
    Policy,
    /// The OEM config shipped in a revision.
    Oem,
    /// `pv_<key>=<value>` kernel command line words.
    PvCmdline,
    /// `ph_<key>=<value>` kernel command line words.
    PhCmdline,
    /// `PV_*` / `PH_*` process environment variables.
    Env,
    /// User metadata keys named like a config key.
    Metadata,
    /// Control socket commands.
    Command,
}

impl Level {
    /// Every level, lowest precedence first.
    pub const ALL: [Level; 12] = [
        Level::Default,
        Level::Args,
        Level::PvConf,
        Level::PhConf,
        Level::HubClient,
        Level::Policy,
        Level::Oem,
        Level::PvCmdline,
        Level::PhCmdline,
        Level::Env,
        Level::Metadata,
        Level::Command,
    ];

    /// Number of levels.
    pub const COUNT: usize = Level::ALL.len();

    /// Position in precedence order (0 = default).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name reported by `GET /config2` (`"pv conf file"`, `"env"`, ...).
    /// The Hub client level is reported as `"unknown"`, as the original does.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Default => "default",
            Level::Args => "args",
            Level::PvConf => "pv conf file",
            Level::PhConf => "ph conf file",
            Level::HubClient => "unknown",
            Level::Policy => "policy",
            Level::Oem => "oem config",
            Level::PvCmdline => "pv cmdline",
            Level::PhCmdline => "ph cmdline",
            Level::Env => "env",
            Level::Metadata => "metadata",
            Level::Command => "command",
        }
    }

    /// Levels set by the program itself rather than read from a source the
    /// user controls; key masks do not apply to them.
    pub fn is_internal(self) -> bool {
        matches!(self, Level::Default | Level::Args | Level::HubClient)
    }

    const fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The set of levels at which a key may be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelMask(u16);

impl LevelMask {
    /// `PV`: pantavisor.config, policy, `pv_` cmdline, environment.
    pub const PV: LevelMask = LevelMask(
        Level::PvConf.bit() | Level::Policy.bit() | Level::PvCmdline.bit() | Level::Env.bit(),
    );
    /// `PH`: pantahub.config, policy, `ph_` cmdline, environment.
    pub const PH: LevelMask = LevelMask(
        Level::PhConf.bit() | Level::Policy.bit() | Level::PhCmdline.bit() | Level::Env.bit(),
    );
    /// `RUN`: user metadata and control commands.
    pub const RUN: LevelMask = LevelMask(Level::Metadata.bit() | Level::Command.bit());
    /// `OEM`: the OEM config of a revision.
    pub const OEM: LevelMask = LevelMask(Level::Oem.bit());
    /// Levels at which `PV_SYSCTL_*` keys are accepted (PV and OEM).
    pub const SYSCTL: LevelMask = LevelMask::PV.union(LevelMask::OEM);

    /// Both sets.
    pub const fn union(self, other: LevelMask) -> LevelMask {
        LevelMask(self.0 | other.0)
    }

    /// True if a value may be set at `level` (internal levels always may).
    pub fn allows(self, level: Level) -> bool {
        level.is_internal() || self.0 & level.bit() != 0
    }
}

impl std::ops::BitOr for LevelMask {
    type Output = LevelMask;
    fn bitor(self, rhs: LevelMask) -> LevelMask {
        self.union(rhs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_matches_spec() {
        let names: Vec<&str> = Level::ALL.iter().map(|l| l.as_str()).collect();
        assert_eq!(
            names,
            [
                "default",
                "args",
                "pv conf file",
                "ph conf file",
                "unknown",
                "policy",
                "oem config",
                "pv cmdline",
                "ph cmdline",
                "env",
                "metadata",
                "command"
            ]
        );
        assert!(Level::Env > Level::Oem && Level::Oem > Level::Policy);
        for (i, l) in Level::ALL.iter().enumerate() {
            assert_eq!(l.index(), i);
        }
    }

    #[test]
    fn masks() {
        let pv = LevelMask::PV;
        assert!(pv.allows(Level::PvConf) && pv.allows(Level::Env) && pv.allows(Level::Policy));
        assert!(!pv.allows(Level::PhConf) && !pv.allows(Level::Oem) && !pv.allows(Level::Metadata));
        let ph_oem_run = LevelMask::PH | LevelMask::OEM | LevelMask::RUN;
        assert!(ph_oem_run.allows(Level::PhCmdline) && ph_oem_run.allows(Level::Command));
        assert!(!ph_oem_run.allows(Level::PvCmdline));
        assert!(
            LevelMask::OEM.allows(Level::Args),
            "internal levels bypass masks"
        );
    }
}
