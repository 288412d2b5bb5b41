//! Loading from files, command line and environment; pantahub.config
//! round trip; the `/config` and `/config2` views.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use pv_config::{BootSources, Config, ConfigError, Key, Level, Warning};
use serde_json::{json, Value as Json};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn boot_load_applies_levels_and_policy() {
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc-pv");
    fs::create_dir_all(etc.join("policies")).unwrap();
    let conf = dir.path().join("pantavisor.config");
    fs::write(
        &conf,
        format!(
            "PV_SYSTEM_ETCPANTAVISORDIR={}\nPV_LOG_LEVEL=4\nPV_POLICY=prod\nlog.capture=0\n\
             PV_DEBUG_SHELL=1\nPV_WDT_MODE=disabled\nPH_CREDS_HOST=nope\n",
            etc.display()
        ),
    )
    .unwrap();
    fs::write(
        etc.join("policies/prod.config"),
        "PV_DEBUG_SHELL=0\nPV_SECUREBOOT_MODE=strict\nPV_LOG_LEVEL=1\n",
    )
    .unwrap();
    fs::write(etc.join("policies/test.config"), "PV_DEBUG_SSH=0\n").unwrap();

    let src = BootSources {
        config_path: Some(&conf),
        cmdline: "root=/dev/ram pv_rev=0 pv_try= pv_log.level=5 pv_debug_shell_autologin=1",
        env: env(&[
            ("PATH", "/usr/bin"),
            ("PV_LOG_LEVEL", "3"),
            ("PV_SYSCTL_VM_SWAPPINESS", "1"),
        ]),
    };
    let mut c = Config::load_boot(&src).unwrap();
    assert_eq!(c.get_str(Key::PvPolicy), "prod");
    assert!(!c.get_bool(Key::PvDebugShell));
    assert_eq!(c.modified(Key::PvDebugShell), Level::Policy);
    assert_eq!(c.secureboot_mode().as_str(), "strict");
    assert_eq!(
        (c.get_int(Key::PvLogLevel), c.modified(Key::PvLogLevel)),
        (3, Level::Env)
    );
    assert_eq!(
        c.value_at(Key::PvLogLevel, Level::PvCmdline),
        Some(&pv_config::Value::Int(5))
    );
    assert!(c.get_bool(Key::PvDebugShellAutologin));
    assert!(!c.get_bool(Key::PvLogCapture));
    assert_eq!(c.wdt_mode().as_str(), "disabled");
    assert_eq!(c.sysctls().len(), 2);
    let w = c.take_warnings();
    assert!(w.contains(&Warning::LegacyKey {
        alias: "log.capture".into(),
        key: "PV_LOG_CAPTURE"
    }));
    assert!(w.contains(&Warning::NotAllowed {
        key: "PH_CREDS_HOST".into(),
        level: Level::PvConf
    }));

    // The command line selects another policy; names with '/' are refused.
    let src = BootSources {
        cmdline: "pv_policy=../x pv_PV_POLICY=test",
        ..src
    };
    let c = Config::load_boot(&src).unwrap();
    assert_eq!(c.get_str(Key::PvPolicy), "test");
    assert!(!c.get_bool(Key::PvDebugSsh));
    assert!(c.get_bool(Key::PvDebugShell));
}

#[test]
fn missing_files_name_their_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.config");
    let err = Config::load_boot(&BootSources {
        config_path: Some(&missing),
        cmdline: "",
        env: vec![],
    })
    .unwrap_err();
    assert!(matches!(err, ConfigError::Fs(_)));
    assert!(err.to_string().contains("nope.config"), "{err}");

    let conf = dir.path().join("pv.config");
    fs::write(
        &conf,
        format!(
            "PV_SYSTEM_ETCPANTAVISORDIR={}\nPV_POLICY=absent\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let err = Config::load_boot(&BootSources {
        config_path: Some(&conf),
        cmdline: "",
        env: vec![],
    })
    .unwrap_err();
    assert!(err.to_string().contains("policies/absent.config"), "{err}");

    // no file at all: the defaults, and the other levels still apply
    let c = Config::load_boot(&BootSources {
        config_path: None,
        cmdline: "pv_log.level=2",
        env: vec![],
    })
    .unwrap();
    assert_eq!(c.modified(Key::PvSecurebootMode), Level::Default);
    assert_eq!(
        (c.get_int(Key::PvLogLevel), c.modified(Key::PvLogLevel)),
        (2, Level::PvCmdline)
    );
}

#[test]
fn pantahub_config_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pantahub.config");
    let mut c = Config::new();
    c.save_ph_config(&path).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        "PH_CREDS_HOST=api.pantahub.com\nPH_CREDS_PORT=443\nPH_CREDS_PROXY_NOPROXYCONNECT=0\n\
         PH_CREDS_PROXY_PORT=3218\nPH_CREDS_TYPE=builtin\nPH_LIBEVENT_HTTP_TIMEOUT=60\n\
         PH_LIBEVENT_HTTP_RETRIES=1\nPH_METADATA_DEVMETA_INTERVAL=10\n\
         PH_METADATA_USRMETA_INTERVAL=5\nPH_ONLINE_REQUEST_THRESHOLD=0\nPH_UPDATER_INTERVAL=60\n\
         PH_UPDATER_NETWORK_TIMEOUT=120\nPH_UPDATER_TRANSFER_MAX_COUNT=5\n"
    );
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Credentials from registration, saved and loaded into a fresh config.
    c.set("PH_CREDS_ID", "dev-1", Level::HubClient);
    c.set("PH_CREDS_SECRET", "s3cr3t", Level::HubClient);
    c.set("PH_CREDS_PRN", "prn:::devices:/dev-1", Level::HubClient);
    c.save_ph_config(&path).unwrap();
    let mut d = Config::new();
    fs::write(
        dir.path().join("legacy.config"),
        "creds.host=legacy.example\nupdater.interval=7min\nPV_LOG_LEVEL=9\n",
    )
    .unwrap();
    d.load_ph_config(&path, "ph_creds.port=8443 pv_log.level=1")
        .unwrap();
    assert_eq!(d.get_str(Key::PhCredsId), "dev-1");
    assert_eq!(d.get_str(Key::PhCredsSecret), "s3cr3t");
    assert_eq!(d.modified(Key::PhCredsId), Level::PhConf);
    assert_eq!(d.get_int(Key::PhCredsPort), 8443);
    assert_eq!(d.modified(Key::PhCredsPort), Level::PhCmdline);
    assert_eq!(d.modified(Key::PvLogLevel), Level::Default);
    assert_eq!(
        d.take_warnings(),
        vec![Warning::LegacyKey {
            alias: "creds.port".into(),
            key: "PH_CREDS_PORT"
        }]
    );

    d.load_ph_config(&dir.path().join("legacy.config"), "")
        .unwrap();
    assert_eq!(d.get_str(Key::PhCredsHost), "legacy.example");
    assert_eq!(d.get_duration(Key::PhUpdaterInterval).as_secs(), 420);
    assert_eq!(d.get_int(Key::PvLogLevel), 0);
    // No temp file is left next to the target.
    let names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !pv_fs::is_temp_name(n)), "{names:?}");
}

#[test]
fn oem_config_is_per_revision() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Config::new();
    assert_eq!(c.oem_config_path(dir.path(), "1"), None);
    c.set("PV_OEM_NAME", "oem", Level::PvConf);
    let p1 = c.oem_config_path(dir.path(), "1").unwrap();
    assert!(p1.ends_with("trails/1/oem/default.config"));
    fs::create_dir_all(p1.parent().unwrap()).unwrap();
    fs::write(&p1, "PV_LOG_LEVEL=2\nPV_WDT_MODE=always\n").unwrap();
    c.load_oem(&p1).unwrap();
    assert_eq!(c.modified(Key::PvLogLevel), Level::Oem);
    assert_eq!(c.wdt_mode().as_str(), "shutdown");
    assert_eq!(c.take_warnings().len(), 1);

    c.set("PV_POLICY", "prod", Level::PvConf);
    let p2 = c.oem_config_path(dir.path(), "2").unwrap();
    assert!(p2.ends_with("trails/2/oem/prod.config"));
    assert!(c.load_oem(&p2).is_err());
    assert_eq!(c.modified(Key::PvLogLevel), Level::Default);
}

#[test]
fn config_view_is_keyed_by_alias_with_typed_values() {
    let mut c = Config::new();
    c.set("PV_LOG_LEVEL", "4", Level::PvConf);
    c.set("PV_STORAGE_MNTPOINT", "/storage", Level::PvConf);
    let v: Json = serde_json::from_str(&c.to_legacy_json()).unwrap();
    let o = v.as_object().unwrap();
    assert_eq!(o["log.level"], json!(4));
    assert_eq!(o["debug.ssh"], json!(true));
    assert_eq!(o["storage.mntpoint"], json!("/storage"));
    assert_eq!(o["storage.device"], Json::Null);
    assert_eq!(o["secureboot.mode"], json!(2));
    assert_eq!(o["bootloader.type"], json!(0));
    assert_eq!(o["wdt.mode"], json!(1));
    assert_eq!(o["log.server.outputs"], json!(132));
    assert_eq!(o["updater.commit.delay"], json!(25));
    assert_eq!(o["cache.usrmetadir"], json!("/storage/cache/meta"));
    assert!(!o.contains_key("meta.cache.dir"));
    assert!(!o.contains_key("PV_LOG_LEVEL"));
    assert!(!o.contains_key("PV_POWER_MODE"));
    let with_alias = pv_config::KEYS
        .iter()
        .filter(|d| !d.aliases.is_empty())
        .count();
    assert_eq!(o.len(), with_alias);
}

#[test]
fn config2_view_lists_every_key_with_its_level() {
    let mut c = Config::new();
    c.set("PV_LOG_LEVEL", "4", Level::PvConf);
    let v: Json = serde_json::from_str(&c.to_complete_json()).unwrap();
    let a = v.as_array().unwrap();
    assert_eq!(a.len(), pv_config::KEYS.len());
    assert_eq!(
        a[0],
        json!({"key":"PH_CREDS_HOST","value":"api.pantahub.com","modified":"default"})
    );
    let find = |k: &str| a.iter().find(|e| e["key"] == k).unwrap().clone();
    assert_eq!(
        find("PV_LOG_LEVEL"),
        json!({"key":"PV_LOG_LEVEL","value":"4","modified":"pv conf file"})
    );
    c.set("PV_LOG_LEVEL", "3", Level::Env);
    c.set_metadata("PV_DEBUG_SSH", "0");
    c.set("PH_CREDS_ID", "x", Level::HubClient);
    let v: Json = serde_json::from_str(&c.to_complete_json()).unwrap();
    let a = v.as_array().unwrap();
    let find = |k: &str| a.iter().find(|e| e["key"] == k).unwrap().clone();
    assert_eq!(find("PV_LOG_LEVEL")["modified"], "env");
    assert_eq!(
        find("PV_DEBUG_SSH"),
        json!({"key":"PV_DEBUG_SSH","value":"0","modified":"metadata"})
    );
    assert_eq!(find("PH_CREDS_ID")["modified"], "unknown");
    assert_eq!(find("PV_SECUREBOOT_MODE")["value"], "lenient");
    assert_eq!(find("PV_STORAGE_MNTPOINT")["value"], "");
    assert_eq!(find("PV_UPDATER_GOALS_TIMEOUT")["value"], "120");
    assert_eq!(find("PV_LOG_SERVER_OUTPUTS")["value"], "132");
}

/// `GET /config2` lists the original's keys in its table order
/// (`config.h`), the keys it gained later in their place, and ours last.
#[test]
fn config2_lists_the_originals_keys_in_its_order_and_ours_last() {
    let v: Json = serde_json::from_str(&Config::new().to_complete_json()).unwrap();
    let names: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        &names[names.len() - 3..],
        ["PV_LAN_PVR_LISTEN", "PV_LAN_PVR_TOKEN", "PH_CREDS_CAFILE"]
    );
    // the original's order, including its non-alphabetical spots
    let original = [
        "PH_CREDS_HOST",
        "PH_CREDS_ID",
        "PH_CREDS_PORT",
        "PH_CREDS_PROXY_HOST",
        "PH_CREDS_PROXY_NOPROXYCONNECT",
        "PH_CREDS_PROXY_PORT",
        "PH_CREDS_PRN",
        "PH_CREDS_SECRET",
        "PH_CREDS_TYPE",
        "PH_FACTORY_AUTOTOK",
        "PH_LIBEVENT_HTTP_TIMEOUT",
        "PH_LIBEVENT_HTTP_RETRIES",
        "PH_METADATA_DEVMETA_INTERVAL",
        "PH_METADATA_USRMETA_INTERVAL",
        "PH_ONLINE_REQUEST_THRESHOLD",
        "PH_UPDATER_INTERVAL",
        "PH_UPDATER_NETWORK_TIMEOUT",
        "PH_UPDATER_TRANSFER_MAX_COUNT",
        "PV_BOOTLOADER_FITCONFIG",
        "PV_BOOTLOADER_TYPE",
        "PV_BOOTLOADER_UBOOTAB_ENV_NAME",
        "PV_BOOTLOADER_UBOOTAB_ENV_BAK_NAME",
        "PV_CACHE_DEVMETADIR",
        "PV_DEBUG_SSH_AUTHORIZED_KEYS",
        "PV_DROPBEAR_CACHE_DIR",
        "PV_LIBEVENT_DEBUG_MODE",
        "PV_LIBTHTTP_LOG_LEVEL",
        "PV_LOG_CAPTURE",
        "PV_LOG_CAPTURE_DMESG",
        "PV_LOG_BUF_NITEMS",
        "PV_LOG_DIR",
        "PV_LOG_LEVEL",
        "PV_LXC_LOG_LEVEL",
        "PV_NET_BRADDRESS4",
        "PV_NET_BRDEV",
        "PV_STORAGE_GC_RESERVED",
        "PV_STORAGE_GC_THRESHOLD_DEFERTIME",
        "PV_STORAGE_GC_THRESHOLD",
        "PV_SYSTEM_USRDIR",
        "PV_UPDATER_COMMIT_DELAY",
        "PV_VOLMOUNT_DM_EXTRA_ARGS",
        "PV_WDT_MODE",
        "PV_WDT_TIMEOUT",
    ];
    let pos = |k: &str| names.iter().position(|n| n == k).unwrap();
    for w in original.windows(2) {
        assert!(pos(w[0]) < pos(w[1]), "{} before {}", w[0], w[1]);
    }
    assert_eq!(names[..18], original[..18], "the PH_* block leads");
}
