//! Parsers for the places configuration comes from. They only split text
//! into `(key, value)` items; [`crate::Config::apply`] interprets them.

use std::path::Path;

use pv_fs::IoResultExt;

use crate::error::{ConfigError, Warning};

/// `(key, value)` pairs in source order.
pub type Items = Vec<(String, String)>;

/// Which kernel command line words to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmdlinePrefix {
    /// `pv_<key>=<value>` (pantavisor keys).
    Pv,
    /// `ph_<key>=<value>` (pantahub keys).
    Ph,
}

impl CmdlinePrefix {
    fn word_prefix(self) -> &'static str {
        match self {
            CmdlinePrefix::Pv => "pv_",
            CmdlinePrefix::Ph => "ph_",
        }
    }

    fn key_prefix(self) -> &'static str {
        match self {
            CmdlinePrefix::Pv => "PV_",
            CmdlinePrefix::Ph => "PH_",
        }
    }
}

/// Command line words starting with `pv_` that are not configuration: the
/// bootloader's (`pv_rev`, `pv_try`, `pv_quickboot`) and the bare argv mode
/// words (`pv_debug`, `pv_appengine`, ...), which the kernel also leaves in
/// `/proc/cmdline`.
const NOT_CONFIG_WORDS: [&str; 8] = [
    "rev",
    "try",
    "trying",
    "quickboot",
    "debug",
    "embedded",
    "standalone",
    "appengine",
];

/// Parse `KEY=VALUE` lines (pantavisor.config, pantahub.config, policy and
/// OEM files). The value is the rest of the line after the first `=`, kept
/// verbatim except for a trailing `\r`. Blank lines, lines starting with
/// `#` and lines without `=` are skipped; the key is trimmed.
pub fn parse_kv_text(text: &str) -> Items {
    text.lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

/// Read and parse a `KEY=VALUE` file. A missing file is an error (naming
/// the path); the caller decides whether that matters.
pub fn read_kv_file(path: &Path) -> Result<Items, ConfigError> {
    let bytes = std::fs::read(path).at("read", path)?;
    Ok(parse_kv_text(&String::from_utf8_lossy(&bytes)))
}

/// Take the `pv_` (or `ph_`) words of a kernel command line. The prefix is
/// stripped, so `pv_log.level=4` gives `log.level` and `pv_PV_LOG_LEVEL=4`
/// gives `PV_LOG_LEVEL`. A word without `=` gives an empty value.
///
/// Extension over the original: a stripped key that is neither a key nor
/// an alias but becomes one with the upper-case prefix put back
/// (`pv_log_level=4` → `PV_LOG_LEVEL`) is taken as that key. The
/// bootloader's own words (`pv_rev`, `pv_try`, `pv_quickboot`, ...) are
/// skipped.
pub fn parse_cmdline(cmdline: &str, prefix: CmdlinePrefix) -> Items {
    cmdline
        .split_ascii_whitespace()
        .filter_map(|word| word.strip_prefix(prefix.word_prefix()))
        .map(|rest| match rest.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (rest.to_string(), String::new()),
        })
        .filter(|(k, _)| !k.is_empty() && !NOT_CONFIG_WORDS.contains(&k.as_str()))
        .map(|(k, v)| {
            let known = crate::Key::from_name(&k).is_some()
                || crate::Key::from_alias(&k).is_some()
                || crate::sysctl::normalize(&k).is_some();
            let with_prefix = format!("{}{k}", prefix.key_prefix());
            if !known && crate::Key::from_name(&with_prefix).is_some() {
                (with_prefix, v)
            } else {
                (k, v)
            }
        })
        .collect()
}

/// Take the process environment variables whose name starts with `PV_` or
/// `PH_` (ASCII case-insensitive).
pub fn parse_env<I, K, V>(vars: I) -> Items
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    vars.into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .filter(|(k, _)| {
            k.len() > 3
                && k.is_char_boundary(3)
                && (k[..3].eq_ignore_ascii_case("PV_") || k[..3].eq_ignore_ascii_case("PH_"))
        })
        .collect()
}

/// The policy name: from the command line, else the environment, else
/// pantavisor.config (each looked up as `PV_POLICY` or `policy`). A name
/// containing `/` is refused with a warning and the next source is tried.
pub fn policy_name(sources: &[&Items], warnings: &mut Vec<Warning>) -> Option<String> {
    for items in sources {
        let found = items
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case("PV_POLICY") || k.eq_ignore_ascii_case("policy"));
        let Some((_, name)) = found else { continue };
        if name.is_empty() {
            continue;
        }
        if name.contains('/') {
            warnings.push(Warning::BadPolicyName { name: name.clone() });
            continue;
        }
        return Some(name.clone());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(pairs: &[(&str, &str)]) -> Items {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn kv_text() {
        let text = "PV_LOG_LEVEL=4\r\n# comment\n\nnot a pair\n log.dir = /x=y \nPV_EMPTY=\n";
        assert_eq!(
            parse_kv_text(text),
            items(&[
                ("PV_LOG_LEVEL", "4"),
                ("log.dir", " /x=y "),
                ("PV_EMPTY", "")
            ])
        );
    }

    #[test]
    fn cmdline_words() {
        let line = "console=ttyS0 pv_rev=3 pv_try=4 pv_quickboot pv_debug pv_log.level=4 \
                    pv_PV_DEBUG_SSH=0 pv_log_push=0 ph_creds.host=h pv_x pvnet_type=gadget\n";
        assert_eq!(
            parse_cmdline(line, CmdlinePrefix::Pv),
            items(&[
                ("log.level", "4"),
                ("PV_DEBUG_SSH", "0"),
                ("PV_log_push", "0"),
                ("x", "")
            ])
        );
        assert_eq!(
            parse_cmdline(line, CmdlinePrefix::Ph),
            items(&[("creds.host", "h")])
        );
        assert_eq!(
            parse_cmdline("pv_sysctl.vm.x=1 ph_updater_interval=9", CmdlinePrefix::Pv),
            items(&[("sysctl.vm.x", "1")])
        );
        assert_eq!(
            parse_cmdline("ph_updater_interval=9", CmdlinePrefix::Ph),
            items(&[("PH_updater_interval", "9")])
        );
    }

    #[test]
    fn env_vars() {
        let env = vec![
            ("PATH", "/bin"),
            ("PV_LOG_LEVEL", "3"),
            ("ph_creds_host", "h"),
            ("PV_", "x"),
            ("PVX", "y"),
        ];
        assert_eq!(
            parse_env(env),
            items(&[("PV_LOG_LEVEL", "3"), ("ph_creds_host", "h")])
        );
    }

    #[test]
    fn policy_lookup_order() {
        let cmdline = items(&[("policy", "a/b")]);
        let env = items(&[("PV_POLICY", "test")]);
        let conf = items(&[("PV_POLICY", "prod")]);
        let mut w = Vec::new();
        assert_eq!(
            policy_name(&[&cmdline, &env, &conf], &mut w).as_deref(),
            Some("test")
        );
        assert_eq!(w.len(), 1);
        let none = Items::new();
        assert_eq!(
            policy_name(&[&none, &none, &conf], &mut w).as_deref(),
            Some("prod")
        );
        assert_eq!(policy_name(&[&none], &mut w), None);
    }
}
