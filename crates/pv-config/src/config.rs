//! The configuration store: one value per key and level, the effective
//! value being the one at the highest level that set it.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::Warning;
use crate::keys::{Key, KeyDef, KEYS};
use crate::level::{Level, LevelMask};
use crate::sysctl::{self, SysctlSetting};
use crate::typed::{
    BootloaderType, InitMode, LogOutputs, LogTimestamp, PowerMode, SecurebootMode, SizeSpec,
    WdtMode,
};
use crate::value::Value;

/// The default kernel core pattern, set as a sysctl at the default level.
pub const DEFAULT_CORE_PATTERN: &str = "|/lib/pv/pvcrash --skip";

type Layers<T> = [Option<T>; Level::COUNT];

fn empty_layers<T>() -> Layers<T> {
    std::array::from_fn(|_| None)
}

fn effective<T>(layers: &Layers<T>) -> Option<(Level, &T)> {
    Level::ALL
        .iter()
        .rev()
        .find_map(|l| layers[l.index()].as_ref().map(|v| (*l, v)))
}

/// What a name in a configuration source refers to.
enum Target {
    Key(Key),
    Sysctl(String),
}

/// Runtime configuration: every key of the table, the level that set it,
/// `PV_SYSCTL_*` settings, and the warnings produced while filling it.
#[derive(Debug, Clone)]
pub struct Config {
    keys: Vec<Layers<Value>>,
    sysctls: BTreeMap<String, Layers<String>>,
    warnings: Vec<Warning>,
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

impl Config {
    /// Built-in defaults only (plus the default core pattern sysctl).
    pub fn new() -> Config {
        let keys = KEYS
            .iter()
            .map(|def| {
                let mut layers = empty_layers();
                layers[Level::Default.index()] = Some(def.ty.default_value());
                layers
            })
            .collect();
        let mut core = empty_layers();
        core[Level::Default.index()] = Some(DEFAULT_CORE_PATTERN.to_string());
        let sysctls = BTreeMap::from([("PV_SYSCTL_KERNEL_CORE_PATTERN".to_string(), core)]);
        Config {
            keys,
            sysctls,
            warnings: Vec::new(),
        }
    }

    /// The effective value of `key`.
    pub fn get(&self, key: Key) -> &Value {
        effective(&self.keys[key as usize])
            .map(|(_, v)| v)
            .expect("default layer always present")
    }

    /// The level the effective value of `key` comes from.
    pub fn modified(&self, key: Key) -> Level {
        effective(&self.keys[key as usize])
            .map(|(l, _)| l)
            .unwrap_or(Level::Default)
    }

    /// The value recorded for `key` at exactly `level`, if any.
    pub fn value_at(&self, key: Key, level: Level) -> Option<&Value> {
        self.keys[key as usize][level.index()].as_ref()
    }

    /// Every key with its effective value and level, in table order.
    pub fn entries(&self) -> impl Iterator<Item = (&'static KeyDef, &Value, Level)> + '_ {
        KEYS.iter()
            .map(move |def| (def, self.get(def.key), self.modified(def.key)))
    }

    /// Set `name` (canonical, legacy alias or `PV_SYSCTL_*`, matched
    /// case-insensitively) to `raw` at `level`. Returns false, with a
    /// warning recorded, if the key is unknown, not allowed at `level`, or
    /// the value is invalid (the previous value stays).
    pub fn set(&mut self, name: &str, raw: &str, level: Level) -> bool {
        match self.resolve(name, level) {
            Some(Target::Key(key)) => self.set_key(key, raw, level),
            Some(Target::Sysctl(norm)) => self.set_sysctl(name, norm, raw, level),
            None => false,
        }
    }

    /// Set `key` to `raw` at `level` (see [`Config::set`]).
    pub fn set_key(&mut self, key: Key, raw: &str, level: Level) -> bool {
        let def = key.def();
        if !def.mask.allows(level) {
            self.warn(Warning::NotAllowed {
                key: def.name.to_string(),
                level,
            });
            return false;
        }
        match self.parse(def, raw) {
            Some(v) => {
                self.keys[key as usize][level.index()] = Some(v);
                true
            }
            None => false,
        }
    }

    /// Set `key` at `level` and drop what every other non-default level
    /// had set, so the value wins whatever was loaded before. This is how
    /// argv words (`pv_debug`, `pv_appengine`) behave.
    pub fn force(&mut self, key: Key, raw: &str, level: Level) -> bool {
        let Some(v) = self.parse(key.def(), raw) else {
            return false;
        };
        let layers = &mut self.keys[key as usize];
        for l in Level::ALL.iter().skip(1) {
            layers[l.index()] = None;
        }
        layers[level.index()] = Some(v);
        true
    }

    /// Forget what `level` set for `name`; the value falls back to the
    /// next level down. Returns false if `name` is unknown (no warning).
    pub fn unset(&mut self, name: &str, level: Level) -> bool {
        if level == Level::Default {
            return false;
        }
        if let Some(key) = Key::from_name(name).or_else(|| Key::from_alias(name)) {
            self.keys[key as usize][level.index()] = None;
            return true;
        }
        match sysctl::normalize(name).and_then(|n| self.sysctls.get_mut(&n)) {
            Some(layers) => {
                layers[level.index()] = None;
                true
            }
            None => false,
        }
    }

    /// Forget everything `level` set (e.g. before loading the OEM config of
    /// a new revision).
    pub fn clear_level(&mut self, level: Level) {
        if level == Level::Default {
            return;
        }
        for layers in &mut self.keys {
            layers[level.index()] = None;
        }
        for layers in self.sysctls.values_mut() {
            layers[level.index()] = None;
        }
    }

    /// Apply `KEY=VALUE` items from one source, in order.
    pub fn apply(&mut self, items: &[(String, String)], level: Level) {
        for (k, v) in items {
            self.set(k, v, level);
        }
    }

    /// Apply a user metadata key. Keys that are not configuration keys
    /// (most user metadata) are ignored silently and return false.
    pub fn set_metadata(&mut self, name: &str, raw: &str) -> bool {
        let known = Key::from_name(name).is_some()
            || Key::from_alias(name).is_some()
            || sysctl::normalize(name).is_some();
        known && self.set(name, raw, Level::Metadata)
    }

    /// A control command overrides `name` until reboot (command level).
    pub fn set_command(&mut self, name: &str, raw: &str) -> bool {
        self.set(name, raw, Level::Command)
    }

    /// A user metadata key was removed: restore the value below it.
    pub fn remove_metadata(&mut self, name: &str) -> bool {
        self.unset(name, Level::Metadata)
    }

    /// Warnings recorded so far, oldest first.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Take the recorded warnings, leaving none.
    pub fn take_warnings(&mut self) -> Vec<Warning> {
        std::mem::take(&mut self.warnings)
    }

    /// Effective `PV_SYSCTL_*` / `sysctl.*` settings, lowest level first so
    /// that writing them in order lets higher levels win on a shared path.
    pub fn sysctls(&self) -> Vec<SysctlSetting> {
        let mut out: Vec<SysctlSetting> = self
            .sysctls
            .iter()
            .filter_map(|(key, layers)| {
                effective(layers).map(|(level, value)| SysctlSetting {
                    key: key.clone(),
                    value: value.clone(),
                    level,
                })
            })
            .collect();
        out.sort_by(|a, b| a.level.cmp(&b.level).then_with(|| a.key.cmp(&b.key)));
        out
    }

    fn resolve(&mut self, name: &str, level: Level) -> Option<Target> {
        if let Some(norm) = sysctl::normalize(name) {
            return Some(Target::Sysctl(norm));
        }
        if let Some(key) = Key::from_name(name) {
            return Some(Target::Key(key));
        }
        if let Some(key) = Key::from_alias(name) {
            self.warn(Warning::LegacyKey {
                alias: name.to_string(),
                key: key.name(),
            });
            return Some(Target::Key(key));
        }
        self.warn(Warning::UnknownKey {
            key: name.to_string(),
            level,
        });
        None
    }

    fn set_sysctl(&mut self, name: &str, norm: String, raw: &str, level: Level) -> bool {
        if !LevelMask::SYSCTL.allows(level) {
            self.warn(Warning::NotAllowed {
                key: name.to_string(),
                level,
            });
            return false;
        }
        self.sysctls.entry(norm).or_insert_with(empty_layers)[level.index()] =
            Some(raw.to_string());
        true
    }

    fn parse(&mut self, def: &'static KeyDef, raw: &str) -> Option<Value> {
        match def.ty.parse(raw) {
            Ok(v) => Some(v),
            Err(reason) => {
                let value = if def.is_secret() { "***" } else { raw };
                self.warn(Warning::InvalidValue {
                    key: def.name,
                    value: value.to_string(),
                    reason,
                });
                None
            }
        }
    }

    fn warn(&mut self, w: Warning) {
        self.warnings.push(w);
    }
}

fn wrong_type(key: Key, want: &str) -> ! {
    panic!("config key {} is not of type {want}", key.name())
}

/// Typed accessors. Each panics if the key is of another type: that is a
/// programming error caught by this crate's tests, never a runtime input.
impl Config {
    pub fn get_bool(&self, key: Key) -> bool {
        match self.get(key) {
            Value::Bool(b) => *b,
            _ => wrong_type(key, "bool"),
        }
    }

    pub fn get_int(&self, key: Key) -> i64 {
        match self.get(key) {
            Value::Int(i) => *i,
            _ => wrong_type(key, "int"),
        }
    }

    pub fn get_duration(&self, key: Key) -> Duration {
        match self.get(key) {
            Value::Duration(d) => *d,
            _ => wrong_type(key, "duration"),
        }
    }

    /// A string key, `""` when unset.
    pub fn get_str(&self, key: Key) -> &str {
        self.get_opt_str(key).unwrap_or("")
    }

    /// A string key, `None` when unset or empty.
    pub fn get_opt_str(&self, key: Key) -> Option<&str> {
        match self.get(key) {
            Value::Str(s) => s.as_deref().filter(|s| !s.is_empty()),
            _ => wrong_type(key, "string"),
        }
    }

    pub fn get_size(&self, key: Key) -> SizeSpec {
        match self.get(key) {
            Value::Size(spec, _) => *spec,
            _ => wrong_type(key, "size"),
        }
    }

    fn enum_name(&self, key: Key) -> &'static str {
        match self.get(key) {
            Value::Enum(_, name) => name,
            _ => wrong_type(key, "enum"),
        }
    }

    pub fn bootloader_type(&self) -> BootloaderType {
        BootloaderType::from_name(self.enum_name(Key::PvBootloaderType)).expect("table names")
    }

    pub fn init_mode(&self) -> InitMode {
        InitMode::from_name(self.enum_name(Key::PvSystemInitMode)).expect("table names")
    }

    pub fn secureboot_mode(&self) -> SecurebootMode {
        SecurebootMode::from_name(self.enum_name(Key::PvSecurebootMode)).expect("table names")
    }

    pub fn wdt_mode(&self) -> WdtMode {
        WdtMode::from_name(self.enum_name(Key::PvWdtMode)).expect("table names")
    }

    pub fn power_mode(&self) -> PowerMode {
        PowerMode::from_name(self.enum_name(Key::PvPowerMode)).expect("table names")
    }

    pub fn log_timestamp(&self) -> LogTimestamp {
        LogTimestamp::from_name(self.enum_name(Key::PvLogTimestamp)).expect("table names")
    }

    pub fn log_server_outputs(&self) -> LogOutputs {
        match self.get(Key::PvLogServerOutputs) {
            Value::LogOutputs(o) => *o,
            _ => wrong_type(Key::PvLogServerOutputs, "log outputs"),
        }
    }
}

impl Config {
    pub(crate) fn extend_warnings(&mut self, w: Vec<Warning>) {
        self.warnings.extend(w);
    }
}
