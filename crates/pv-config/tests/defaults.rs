//! The defaults table against the spec's values (code values where the
//! original's docs disagree).

use std::time::Duration;

use pv_config::{
    BootloaderType, Config, InitMode, Key, Level, LogOutputs, LogTimestamp, PowerMode,
    SecurebootMode, SizeSpec, Ty, Value, WdtMode, KEYS,
};

#[test]
fn sample_of_defaults_matches_spec() {
    let c = Config::new();
    let secs = |k| c.get_duration(k).as_secs();
    assert_eq!(secs(Key::PvUpdaterCommitDelay), 25);
    // DOC≠CODE: the docs' group timeout is 30, the code default 120.
    assert_eq!(secs(Key::PvUpdaterGoalsTimeout), 120);
    // the code default; the original's shipped pantahub.config sets 5
    assert_eq!(secs(Key::PhUpdaterInterval), 60);
    assert_eq!(secs(Key::PhUpdaterNetworkTimeout), 120);
    assert_eq!(c.get_int(Key::PvLogLevel), 0);
    assert_eq!(c.secureboot_mode(), SecurebootMode::Lenient);
    assert!(!c.get_bool(Key::PvStorageGcKeepFactory));
    assert_eq!(c.get_int(Key::PvStorageGcReserved), 5);
    assert_eq!(c.get_int(Key::PvStorageGcThreshold), 0);
    assert_eq!(secs(Key::PvStorageGcThresholdDefertime), 600);
    let outputs = c.log_server_outputs();
    assert_eq!(outputs.0, LogOutputs::FILE_TREE | LogOutputs::UPDATE);
    assert_eq!(outputs.names(), "filetree");
    // DOC≠CODE: docs say /run/pantavisor/pv.
    assert_eq!(c.get_str(Key::PvSystemRundir), "/pv");
    assert_eq!(c.get_opt_str(Key::PvStorageMntpoint), None);
    assert_eq!(c.get(Key::PvStorageMntpoint), &Value::Str(None));
    // DOC≠CODE: docs say 16777216.
    assert_eq!(c.get_size(Key::PvLogDirMaxsize), SizeSpec::Auto);
    assert_eq!(c.get_str(Key::PhCredsHost), "api.pantahub.com");
    assert_eq!(c.get_int(Key::PhCredsPort), 443);
    assert_eq!(c.get_int(Key::PhCredsProxyPort), 3218);
    assert_eq!(c.get_str(Key::PvSecurebootTruststore), "ca-certificates");
    assert_eq!(
        c.get_str(Key::PvSecurebootOemTruststore),
        "ca-oem-certificates"
    );
    assert_eq!(c.get_str(Key::PvSystemDisksdir), "/run/pantavisor/disks");
    assert_eq!(c.get_str(Key::PvCacheUsrmetadir), "/storage/cache/meta");
    assert_eq!(c.get_str(Key::PvLogDir), "/storage/logs/");
    assert_eq!(c.get_int(Key::PvLoopIndexBase), -1);
    assert_eq!(secs(Key::PvWdtTimeout), 15);
    assert_eq!(secs(Key::PvDebugShellTimeout), 60);
    assert_eq!(secs(Key::PvStorageWait), 5);
    assert_eq!(c.wdt_mode(), WdtMode::Shutdown);
    assert_eq!(c.bootloader_type(), BootloaderType::Uboot);
    assert_eq!(c.init_mode(), InitMode::Embedded);
    assert_eq!(c.power_mode(), PowerMode::Locks);
    assert_eq!(c.log_timestamp(), LogTimestamp::Relative);
    assert!(c.get_bool(Key::PvDebugSsh) && c.get_bool(Key::PvControlRemote));
    assert!(c.get_bool(Key::PvXconnectDbusSystembusEnabled));
    for key in Key::all() {
        assert_eq!(c.modified(key), Level::Default);
    }
}

/// Every key can be read through the accessor of its type (the accessors
/// panic on a type mismatch, so this pins the table to them).
#[test]
fn every_key_has_a_working_accessor() {
    let c = Config::new();
    for def in KEYS {
        match def.ty {
            Ty::Bool(b) => assert_eq!(c.get_bool(def.key), b, "{}", def.name),
            Ty::Int(i) => assert_eq!(c.get_int(def.key), i, "{}", def.name),
            Ty::Duration(s) => {
                assert_eq!(
                    c.get_duration(def.key),
                    Duration::from_secs(s),
                    "{}",
                    def.name
                )
            }
            Ty::Str(s) => assert_eq!(c.get_opt_str(def.key), s, "{}", def.name),
            Ty::Size(_) => {
                c.get_size(def.key);
            }
            Ty::Enum(names, d) => assert!(names.contains(&d), "{}", def.name),
            Ty::LogOutputs(_) => assert_eq!(def.key, Key::PvLogServerOutputs),
        }
    }
}

#[test]
fn the_table_holds_every_spec_key() {
    let spec_keys = [
        "PH_CREDS_HOST",
        "PH_CREDS_PORT",
        "PH_CREDS_ID",
        "PH_CREDS_PRN",
        "PH_CREDS_SECRET",
        "PH_FACTORY_AUTOTOK",
        "PH_CREDS_TYPE",
        "PH_CREDS_PROXY_HOST",
        "PH_CREDS_PROXY_PORT",
        "PH_CREDS_PROXY_NOPROXYCONNECT",
        "PH_LIBEVENT_HTTP_TIMEOUT",
        "PH_LIBEVENT_HTTP_RETRIES",
        "PH_METADATA_DEVMETA_INTERVAL",
        "PH_METADATA_USRMETA_INTERVAL",
        "PH_ONLINE_REQUEST_THRESHOLD",
        "PH_UPDATER_INTERVAL",
        "PH_UPDATER_NETWORK_TIMEOUT",
        "PH_UPDATER_TRANSFER_MAX_COUNT",
        "PV_BOOTLOADER_TYPE",
        "PV_BOOTLOADER_FITCONFIG",
        "PV_BOOTLOADER_MTD_ENV",
        "PV_BOOTLOADER_MTD_ONLY",
        "PV_BOOTLOADER_UBOOTAB_A_NAME",
        "PV_BOOTLOADER_UBOOTAB_B_NAME",
        "PV_BOOTLOADER_UBOOTAB_ENV_NAME",
        "PV_BOOTLOADER_UBOOTAB_ENV_BAK_NAME",
        "PV_BOOTLOADER_UBOOTAB_ENV_OFFSET",
        "PV_BOOTLOADER_UBOOTAB_ENV_SIZE",
        "PV_CACHE_DEVMETADIR",
        "PV_CACHE_USRMETADIR",
        "PV_CONTROL_REMOTE",
        "PV_CONTROL_REMOTE_ALWAYS",
        "PV_DEBUG_SHELL",
        "PV_DEBUG_SHELL_AUTOLOGIN",
        "PV_DEBUG_SHELL_TIMEOUT",
        "PV_DEBUG_SSH",
        "PV_DEBUG_SSH_AUTHORIZED_KEYS",
        "PV_DISK_EXPORTSDIR",
        "PV_DISK_VOLDIR",
        "PV_DISK_WRITABLEDIR",
        "PV_DROPBEAR_CACHE_DIR",
        "PV_LIBEVENT_DEBUG_MODE",
        "PV_LIBTHTTP_CERTSDIR",
        "PV_LIBTHTTP_LOG_LEVEL",
        "PV_LOG_AUTO_DEVLOG",
        "PV_LOG_CAPTURE",
        "PV_LOG_CAPTURE_DMESG",
        "PV_LOG_LOGGERS",
        "PV_LOG_BUF_NITEMS",
        "PV_LOG_DIR",
        "PV_LOG_DIR_MAXSIZE",
        "PV_LOG_HYSTERESIS_FACTOR",
        "PV_LOG_ROTATE_FACTOR",
        "PV_LOG_LEVEL",
        "PV_LOG_PUSH",
        "PV_LOG_SERVER_OUTPUTS",
        "PV_LOG_FILETREE_TIMESTAMP_FORMAT",
        "PV_LOG_SINGLEFILE_TIMESTAMP_FORMAT",
        "PV_LOG_STDOUT_TIMESTAMP_FORMAT",
        "PV_LOG_TIMESTAMP",
        "PV_LOOP_INDEX_BASE",
        "PV_LXC_LOG_LEVEL",
        "PV_NET_BRDEV",
        "PV_NET_BRADDRESS4",
        "PV_NET_BRMASK4",
        "PV_OEM_NAME",
        "PV_POLICY",
        "PV_POWER_MODE",
        "PV_REVISION_RETRIES",
        "PV_SECUREBOOT_CHECKSUM",
        "PV_SECUREBOOT_HANDLERS",
        "PV_SECUREBOOT_MODE",
        "PV_SECUREBOOT_TRUSTSTORE",
        "PV_SECUREBOOT_OEM_TRUSTSTORE",
        "PV_STORAGE_DEVICE",
        "PV_STORAGE_FSTYPE",
        "PV_STORAGE_MNTPOINT",
        "PV_STORAGE_MNTTYPE",
        "PV_STORAGE_LOGTEMPSIZE",
        "PV_STORAGE_WAIT",
        "PV_STORAGE_FIRMWARE_VOL",
        "PV_STORAGE_PHCONFIG_VOL",
        "PV_STORAGE_GC_KEEP_FACTORY",
        "PV_STORAGE_GC_RESERVED",
        "PV_STORAGE_GC_THRESHOLD",
        "PV_STORAGE_GC_THRESHOLD_DEFERTIME",
        "PV_SYSTEM_INIT_MODE",
        "PV_SYSTEM_CONFDIR",
        "PV_SYSTEM_ETCDIR",
        "PV_SYSTEM_ETCPANTAVISORDIR",
        "PV_SYSTEM_LIBDIR",
        "PV_SYSTEM_MEDIADIR",
        "PV_SYSTEM_RUNDIR",
        "PV_SYSTEM_DISKSDIR",
        "PV_SYSTEM_USRDIR",
        "PV_SYSTEM_APPARMOR_PROFILES",
        "PV_SYSTEM_DRIVERS_LOAD_EARLY_AUTO",
        "PV_SYSTEM_MOUNT_SECURITYFS",
        "PV_UPDATER_COMMIT_DELAY",
        "PV_UPDATER_GOALS_TIMEOUT",
        "PV_UPDATER_USE_TMP_OBJECTS",
        "PV_VOLMOUNT_DM_EXTRA_ARGS",
        "PV_WDT_MODE",
        "PV_WDT_TIMEOUT",
        "PV_XCONNECT_DBUS_SYSTEMBUS_ENABLED",
    ];
    for name in spec_keys {
        assert!(Key::from_name(name).is_some(), "{name} missing");
    }
}
