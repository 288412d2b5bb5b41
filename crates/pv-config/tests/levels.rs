//! Precedence, masks, aliases and invalid values.

use pv_config::{Config, Key, Level, Value, Warning};

#[test]
fn higher_levels_win_whatever_the_load_order() {
    let mut c = Config::new();
    assert!(c.set("PV_LOG_LEVEL", "4", Level::PvConf));
    assert_eq!(
        (c.get_int(Key::PvLogLevel), c.modified(Key::PvLogLevel)),
        (4, Level::PvConf)
    );
    assert!(c.set("PV_LOG_LEVEL", "3", Level::Env));
    assert_eq!(
        (c.get_int(Key::PvLogLevel), c.modified(Key::PvLogLevel)),
        (3, Level::Env)
    );
    // An OEM config loaded later (at RUN) still loses to env.
    assert!(c.set("PV_LOG_LEVEL", "1", Level::Oem));
    assert_eq!(
        (c.get_int(Key::PvLogLevel), c.modified(Key::PvLogLevel)),
        (3, Level::Env)
    );
    assert_eq!(
        c.value_at(Key::PvLogLevel, Level::Oem),
        Some(&Value::Int(1))
    );
    // pantahub.config is loaded late but loses to policy.
    assert!(c.set("PH_UPDATER_INTERVAL", "30", Level::Policy));
    assert!(c.set("PH_UPDATER_INTERVAL", "60", Level::PhConf));
    assert_eq!(c.get_duration(Key::PhUpdaterInterval).as_secs(), 30);
    assert!(c.warnings().is_empty(), "{:?}", c.warnings());
}

#[test]
fn metadata_override_and_removal() {
    let mut c = Config::new();
    c.set("PV_LOG_LEVEL", "4", Level::PvConf);
    assert!(c.set_metadata("PV_LOG_LEVEL", "5"));
    assert_eq!(
        (c.get_int(Key::PvLogLevel), c.modified(Key::PvLogLevel)),
        (5, Level::Metadata)
    );
    assert!(c.remove_metadata("PV_LOG_LEVEL"));
    assert_eq!(
        (c.get_int(Key::PvLogLevel), c.modified(Key::PvLogLevel)),
        (4, Level::PvConf)
    );
    // The legacy user-meta key for log pushing.
    assert!(c.set_metadata("pantahub.log.push", "0"));
    assert!(!c.get_bool(Key::PvLogPush));
    // Ordinary user metadata is not configuration: ignored silently.
    assert!(!c.set_metadata("pvr-sdk.authorized_keys", "ssh-rsa AAAA"));
    assert!(!c.set_metadata("app/key", "v"));
    // A config key without RUN in its mask is refused with a warning.
    c.take_warnings();
    assert!(!c.set_metadata("PV_SYSTEM_RUNDIR", "/x"));
    assert_eq!(
        c.take_warnings()
            .into_iter()
            .filter(|w| !matches!(w, Warning::LegacyKey { .. }))
            .collect::<Vec<_>>(),
        vec![Warning::NotAllowed {
            key: "PV_SYSTEM_RUNDIR".into(),
            level: Level::Metadata
        }]
    );
    assert_eq!(c.get_str(Key::PvSystemRundir), "/pv");
}

#[test]
fn commands_and_clear_level() {
    let mut c = Config::new();
    assert!(c.set_key(Key::PvDebugSsh, "0", Level::Command));
    assert!(!c.get_bool(Key::PvDebugSsh));
    assert!(c.unset("PV_DEBUG_SSH", Level::Command));
    assert!(c.get_bool(Key::PvDebugSsh));
    c.set("PV_LOG_LEVEL", "2", Level::Oem);
    c.set("PV_UPDATER_COMMIT_DELAY", "1min", Level::Oem);
    c.clear_level(Level::Oem);
    assert_eq!(c.modified(Key::PvLogLevel), Level::Default);
    assert_eq!(c.get_duration(Key::PvUpdaterCommitDelay).as_secs(), 25);
}

#[test]
fn masks_refuse_levels() {
    let mut c = Config::new();
    // PV key in pantahub.config.
    assert!(!c.set("PV_LOG_LEVEL", "4", Level::PhConf));
    // PH key on the pv_ command line and in pantavisor.config.
    assert!(!c.set("PH_CREDS_HOST", "h", Level::PvCmdline));
    assert!(!c.set("PH_CREDS_HOST", "h", Level::PvConf));
    // PV-only key from an OEM config, and from user metadata.
    assert!(!c.set("PV_SECUREBOOT_MODE", "disabled", Level::Oem));
    assert!(!c.set("PV_UPDATER_GOALS_TIMEOUT", "9", Level::Metadata));
    assert_eq!(c.warnings().len(), 5);
    assert!(c
        .warnings()
        .iter()
        .all(|w| matches!(w, Warning::NotAllowed { .. })));
    assert_eq!(c.get_str(Key::PhCredsHost), "api.pantahub.com");
    assert_eq!(c.secureboot_mode().as_str(), "lenient");
    // Allowed ones.
    assert!(c.set("PH_CREDS_HOST", "h", Level::PhCmdline));
    assert!(c.set("PH_CREDS_HOST", "h2", Level::Oem));
    assert!(c.set("PV_UPDATER_GOALS_TIMEOUT", "9", Level::Oem));
    // Internal levels bypass masks.
    assert!(c.set("PH_CREDS_ID", "dev-1", Level::HubClient));
    assert_eq!(c.modified(Key::PhCredsId), Level::HubClient);
}

#[test]
fn keys_match_case_insensitively_and_aliases_warn() {
    let mut c = Config::new();
    assert!(c.set("pv_log_level", "2", Level::PvConf));
    assert_eq!(c.get_int(Key::PvLogLevel), 2);
    assert!(c.warnings().is_empty());
    assert!(c.set("updater.commit.delay", "40", Level::PvConf));
    assert!(c.set("Storage.GC.Keep_Factory", "1", Level::PvConf));
    assert!(c.set("updater.keep_factory", "0", Level::Policy));
    assert!(c.set("meta.cache.dir", "/m", Level::PvConf));
    assert_eq!(c.get_duration(Key::PvUpdaterCommitDelay).as_secs(), 40);
    assert!(!c.get_bool(Key::PvStorageGcKeepFactory));
    assert_eq!(c.get_str(Key::PvCacheUsrmetadir), "/m");
    assert_eq!(
        c.take_warnings()[0],
        Warning::LegacyKey {
            alias: "updater.commit.delay".into(),
            key: "PV_UPDATER_COMMIT_DELAY"
        }
    );
    assert!(!c.set("PV_NOT_A_KEY", "1", Level::Env));
    assert_eq!(
        c.take_warnings(),
        vec![Warning::UnknownKey {
            key: "PV_NOT_A_KEY".into(),
            level: Level::Env
        }]
    );
}

#[test]
fn invalid_values_keep_the_previous_value() {
    let mut c = Config::new();
    c.set("PV_LOG_LEVEL", "4", Level::PvConf);
    let cases = [
        ("PV_LOG_LEVEL", "four"),
        ("PV_DEBUG_SSH", "maybe"),
        ("PV_UPDATER_COMMIT_DELAY", "5 weeks"),
        ("PV_SECUREBOOT_MODE", "paranoid"),
        ("PV_LOG_DIR_MAXSIZE", "lots"),
        ("PV_LOG_SERVER_OUTPUTS", "filetree,printer"),
    ];
    for (k, v) in cases {
        assert!(!c.set(k, v, Level::Env), "{k}={v}");
    }
    let w = c.take_warnings();
    assert_eq!(w.len(), cases.len());
    assert!(w.iter().all(|w| matches!(w, Warning::InvalidValue { .. })));
    assert!(w[0].to_string().contains("keeping the previous value"));
    assert_eq!(
        (c.get_int(Key::PvLogLevel), c.modified(Key::PvLogLevel)),
        (4, Level::PvConf)
    );
    assert!(c.get_bool(Key::PvDebugSsh));
    assert_eq!(c.get_duration(Key::PvUpdaterCommitDelay).as_secs(), 25);
    assert_eq!(c.log_server_outputs().names(), "filetree");
    // Secrets never appear in warnings.
    assert!(!c.set("PH_CREDS_PORT", "secret-looking", Level::PhConf));
    c.set("PH_CREDS_SECRET", "s3cr3t", Level::PhConf);
    assert!(c
        .take_warnings()
        .iter()
        .all(|w| !w.to_string().contains("s3cr3t")));
}

#[test]
fn every_type_parses() {
    let mut c = Config::new();
    assert!(c.set("PV_CONTROL_REMOTE", "off", Level::PvConf));
    assert!(c.set("PV_REVISION_RETRIES", "3", Level::PvConf));
    assert!(c.set("PV_WDT_TIMEOUT", "2min", Level::PvConf));
    assert!(c.set("PV_POWER_WAKE_INTERVAL", "1d", Level::PvConf));
    assert!(c.set("PV_OEM_NAME", "oem", Level::PvConf));
    assert!(c.set("PV_BOOTLOADER_TYPE", "grub", Level::PvConf));
    assert!(c.set("PV_SYSTEM_INIT_MODE", "appengine", Level::PvConf));
    assert!(c.set("PV_LOG_DIR_MAXSIZE", "2147483647", Level::PvConf));
    assert!(c.set(
        "PV_LOG_SERVER_OUTPUTS",
        "filetree,stdout_direct",
        Level::PvConf
    ));
    assert!(!c.get_bool(Key::PvControlRemote));
    assert_eq!(c.get_int(Key::PvRevisionRetries), 3);
    assert_eq!(c.get_duration(Key::PvWdtTimeout).as_secs(), 120);
    assert_eq!(c.get_duration(Key::PvPowerWakeInterval).as_secs(), 86400);
    assert_eq!(c.get_str(Key::PvOemName), "oem");
    assert_eq!(c.bootloader_type().as_str(), "grub");
    assert_eq!(c.init_mode().as_str(), "appengine");
    assert_eq!(
        c.get_size(Key::PvLogDirMaxsize),
        pv_config::SizeSpec::Bytes(2147483647)
    );
    assert_eq!(c.log_server_outputs().names(), "filetree,stdout_direct");
    // An empty string is a set, empty value; the accessor treats it as unset.
    assert!(c.set("PH_CREDS_ID", "", Level::PhConf));
    assert_eq!(c.get(Key::PhCredsId), &Value::Str(Some(String::new())));
    assert_eq!(c.get_opt_str(Key::PhCredsId), None);
    assert!(c.warnings().is_empty(), "{:?}", c.warnings());
}

#[test]
fn argv_words_are_forced() {
    let mut c = Config::new();
    c.set("PV_SYSTEM_INIT_MODE", "embedded", Level::Env);
    assert!(c.force(Key::PvSystemInitMode, "appengine", Level::Args));
    assert_eq!(c.init_mode().as_str(), "appengine");
    assert_eq!(c.modified(Key::PvSystemInitMode), Level::Args);
    assert!(!c.force(Key::PvDebugShell, "nah", Level::Args));
}

#[test]
fn sysctls_are_collected_per_level() {
    let mut c = Config::new();
    let s = c.sysctls();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].key, "PV_SYSCTL_KERNEL_CORE_PATTERN");
    assert_eq!(s[0].value, "|/lib/pv/pvcrash --skip");
    assert_eq!(s[0].level, Level::Default);

    assert!(c.set("pv_sysctl_kernel_core_pattern", "core", Level::PvConf));
    assert!(c.set("PV_SYSCTL_VM_SWAPPINESS", "10", Level::Env));
    assert!(c.set("sysctl.vm.watermark_boost_level", "0", Level::Oem));
    assert!(!c.set("PV_SYSCTL_VM_SWAPPINESS", "99", Level::Metadata));
    let s = c.sysctls();
    let got: Vec<(&str, &str, Level)> = s
        .iter()
        .map(|s| (s.key.as_str(), s.value.as_str(), s.level))
        .collect();
    assert_eq!(
        got,
        vec![
            ("PV_SYSCTL_KERNEL_CORE_PATTERN", "core", Level::PvConf),
            ("sysctl.vm.watermark_boost_level", "0", Level::Oem),
            ("PV_SYSCTL_VM_SWAPPINESS", "10", Level::Env),
        ]
    );
    let path = pv_config::sysctl_path(&s[1].key, |_| false).unwrap();
    assert_eq!(
        path,
        std::path::Path::new("/proc/sys/vm/watermark_boost_level")
    );
    c.clear_level(Level::Oem);
    assert_eq!(c.sysctls().len(), 2);
}
