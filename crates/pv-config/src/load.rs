//! Loading the configuration levels in the order the runtime does, and
//! writing pantahub.config back.

use std::io::Write;
use std::path::{Path, PathBuf};

use pv_fs::{AtomicFile, IoResultExt};

use crate::config::Config;
use crate::error::ConfigError;
use crate::keys::{Key, KEYS};
use crate::level::Level;
use crate::sources::{parse_cmdline, parse_env, policy_name, read_kv_file, CmdlinePrefix, Items};
use crate::value::Value;

/// What the runtime reads before starting its state machine.
#[derive(Debug, Clone)]
pub struct BootSources<'a> {
    /// `--config <path>` or `/etc/pantavisor.config`; `None` when there is
    /// none (the defaults stand at that level).
    pub config_path: Option<&'a Path>,
    /// `/proc/cmdline` (or `--cmdline`).
    pub cmdline: &'a str,
    /// The process environment (all of it; only `PV_*`/`PH_*` are used).
    pub env: Vec<(String, String)>,
}

impl Config {
    /// Build the pre-state-machine configuration: defaults, then
    /// pantavisor.config, the policy file, `pv_` command line words and the
    /// environment, each at its level. The policy name comes from the
    /// command line, else the environment, else pantavisor.config; its file
    /// is `<PV_SYSTEM_ETCPANTAVISORDIR>/policies/<name>.config`, located
    /// with the directory pantavisor.config set. A config file named in
    /// `config_path` or a policy file that is missing is an error.
    pub fn load_boot(src: &BootSources<'_>) -> Result<Config, ConfigError> {
        let mut cfg = Config::new();
        let cmdline = parse_cmdline(src.cmdline, CmdlinePrefix::Pv);
        let env = parse_env(src.env.iter().cloned());
        let pv_conf = match src.config_path {
            Some(path) => read_kv_file(path)?,
            None => Items::default(),
        };
        let mut warnings = Vec::new();
        let policy = policy_name(&[&cmdline, &env, &pv_conf], &mut warnings);
        cfg.extend_warnings(warnings);

        cfg.apply(&pv_conf, Level::PvConf);
        if let Some(name) = policy {
            let items = read_kv_file(&cfg.policy_path(&name))?;
            cfg.apply(&items, Level::Policy);
        }
        cfg.apply(&cmdline, Level::PvCmdline);
        cfg.apply(&env, Level::Env);
        Ok(cfg)
    }

    /// Where the policy `name` lives.
    pub fn policy_path(&self, name: &str) -> PathBuf {
        Path::new(self.get_str(Key::PvSystemEtcpantavisordir))
            .join("policies")
            .join(format!("{name}.config"))
    }

    /// Load pantahub.config (ph conf level) and the `ph_` command line
    /// words (ph cmdline level).
    pub fn load_ph_config(&mut self, path: &Path, cmdline: &str) -> Result<(), ConfigError> {
        let items = read_kv_file(path)?;
        self.apply(&items, Level::PhConf);
        self.apply(&parse_cmdline(cmdline, CmdlinePrefix::Ph), Level::PhCmdline);
        Ok(())
    }

    /// The OEM config of revision `rev` under the storage root:
    /// `trails/<rev>/<PV_OEM_NAME>/<PV_POLICY or "default">.config`, or
    /// `None` when `PV_OEM_NAME` is unset.
    pub fn oem_config_path(&self, storage: &Path, rev: &str) -> Option<PathBuf> {
        let oem = self.get_opt_str(Key::PvOemName)?;
        let policy = self.get_opt_str(Key::PvPolicy).unwrap_or("default");
        Some(
            storage
                .join("trails")
                .join(rev)
                .join(oem)
                .join(format!("{policy}.config")),
        )
    }

    /// Replace the OEM level with the content of `path` (what the previous
    /// revision's OEM config set is forgotten first, even if `path` cannot
    /// be read).
    pub fn load_oem(&mut self, path: &Path) -> Result<(), ConfigError> {
        self.clear_level(Level::Oem);
        let items: Items = read_kv_file(path)?;
        self.apply(&items, Level::Oem);
        Ok(())
    }

    /// The content of pantahub.config: `KEY=value` lines for every
    /// pantahub-level integer, duration (seconds) and set string key, with
    /// its effective value, in table order.
    pub fn ph_config_text(&self) -> String {
        let mut out = String::new();
        for def in KEYS.iter().filter(|d| d.mask.allows(Level::PhConf)) {
            let value = match self.get(def.key) {
                Value::Int(i) => i.to_string(),
                Value::Duration(d) => d.as_secs().to_string(),
                Value::Str(Some(s)) => s.clone(),
                _ => continue,
            };
            out.push_str(def.name);
            out.push('=');
            out.push_str(&value);
            out.push('\n');
        }
        out
    }

    /// Durably replace pantahub.config (or unclaimed.config) at `path` with
    /// [`Config::ph_config_text`], mode 0600 since it holds the device
    /// secret.
    pub fn save_ph_config(&self, path: &Path) -> Result<(), ConfigError> {
        let mut file = AtomicFile::create_with_mode(path, 0o600)?;
        file.write_all(self.ph_config_text().as_bytes())
            .at("write", path)?;
        file.commit()?;
        Ok(())
    }
}
