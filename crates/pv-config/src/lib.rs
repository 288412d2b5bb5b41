//! Pantavisor runtime configuration: the key table, the levels a value can
//! come from, parsers for every source and the control-API views.
//!
//! # Model
//!
//! Every key of [`KEYS`] has a type and default ([`Ty`]), a mask of levels
//! allowed to set it ([`LevelMask`]: `PV` = pv conf, policy, pv cmdline,
//! env; `PH` = ph conf, policy, ph cmdline, env; `RUN` = metadata, command;
//! plus `OEM`) and legacy dotted aliases. [`Config`] keeps one value per key
//! *per level*; the effective value is the one at the highest [`Level`]:
//!
//! `default < args < pv conf file < ph conf file < hub client ("unknown")
//! < policy < oem config < pv cmdline < ph cmdline < env < metadata
//! < command`
//!
//! so a lower level never overrides a higher one whatever the load order,
//! and removing a user-metadata override ([`Config::remove_metadata`])
//! restores the value below it. Setting a key at a level outside its mask,
//! an unknown key, or an invalid value is refused and recorded as a
//! [`Warning`] (legacy aliases are applied with a deprecation warning);
//! take them with [`Config::take_warnings`]. The internal levels (default,
//! args, hub client) bypass masks; [`Config::force`] is how argv words win
//! over everything loaded before them.
//!
//! # Sources
//!
//! [`sources`] turns text into `(key, value)` items: `KEY=VALUE` files,
//! `pv_`/`ph_` kernel command line words, `PV_*`/`PH_*` environment
//! variables. [`Config::load_boot`], [`Config::load_ph_config`] and
//! [`Config::load_oem`] apply them in the runtime's order; user metadata
//! goes through [`Config::set_metadata`]. [`Config::save_ph_config`] writes
//! pantahub.config back atomically.
//!
//! `PV_SYSCTL_*` and `sysctl.*` keys are kept apart ([`Config::sysctls`]);
//! [`sysctl_path`] maps one to its `/proc/sys` file. Nothing here writes
//! `/proc`.
//!
//! # Where the original's docs and code disagree
//!
//! Defaults and masks follow the code: `PH_UPDATER_INTERVAL` 60 s (the
//! original's shipped pantahub.config sets 5), `PV_UPDATER_GOALS_TIMEOUT`
//! 120 s (docs give 30 as group timeout), `PV_LOG_DIR_MAXSIZE` `0` = auto (docs 16777216), `PV_SYSTEM_RUNDIR`
//! `/pv` (docs `/run/pantavisor/pv`), `PV_LOG_LEVEL` 0..6 =
//! FATAL..ALL (docs list other names), trust stores are bundle names
//! (`ca-certificates`, `ca-oem-certificates`; docs give paths), and the
//! libthttp keys are spelled `PV_LIBTHTTP_*` (docs `PV_LIBTHHTTP_*`).
//!
//! # Deliberate differences from the original
//!
//! - Precedence is kept per level, so a later load at a lower level never
//!   clobbers a higher one and removing metadata restores the level below.
//! - Legacy aliases and enum names match ASCII case-insensitively; booleans
//!   also accept `true/false/yes/no/on/off`; durations accept unit
//!   suffixes.
//! - An invalid value (including a log output list with an unknown entry)
//!   leaves the previous value and level untouched.
//! - `KEY=VALUE` files skip `#` comment lines and a trailing `\r`.
//! - `pv_log_level=4` on the command line is taken as `PV_LOG_LEVEL`
//!   (prefix put back) when the stripped key is unknown; `pv_rev`,
//!   `pv_try`, `pv_quickboot` and the argv mode words are not warned about.
//! - pantahub.config is written with mode 0600.
//! - `GET /config2` renders an unset string as `""` (the original prints
//!   `(null)`).
//! - Our own keys (`PV_LAN_PVR_*`, `PH_CREDS_CAFILE`) come after the original's in the table,
//!   so `GET /config2` lists the original's keys first, in its order.
//! - Warnings are returned, never printed.

mod config;
mod error;
mod json;
mod keys;
mod level;
mod load;
pub mod sources;
mod sysctl;
mod typed;
mod value;

pub use config::{Config, DEFAULT_CORE_PATTERN};
pub use error::{ConfigError, Warning};
pub use keys::{Key, KeyDef, KEYS};
pub use level::{Level, LevelMask};
pub use load::BootSources;
pub use sysctl::{sysctl_path, SysctlSetting};
pub use typed::{
    BootloaderType, InitMode, LogOutputs, LogTimestamp, PowerMode, SecurebootMode, SizeSpec,
    WdtMode,
};
pub use value::{parse_bool, parse_duration, Ty, Value};
