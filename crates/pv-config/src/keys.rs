//! The key table: every configuration key with its type, default, allowed
//! levels and legacy dotted aliases. Adding a key is one line here.
//!
//! Defaults follow the original's code where its docs disagree (see the
//! crate docs for the list).

use crate::level::LevelMask;
use crate::typed::{BootloaderType, InitMode, LogTimestamp, PowerMode, SecurebootMode, WdtMode};
use crate::value::Ty;
use crate::value::Ty::{Bool, Duration, Enum, Int, LogOutputs, Size, Str};

/// One row of the key table.
#[derive(Debug)]
pub struct KeyDef {
    /// The key this row describes.
    pub key: Key,
    /// Canonical name (`PV_LOG_LEVEL`).
    pub name: &'static str,
    /// Type and default.
    pub ty: Ty,
    /// Levels allowed to set it.
    pub mask: LevelMask,
    /// Legacy dotted names; the first is the one `GET /config` reports.
    pub aliases: &'static [&'static str],
}

impl KeyDef {
    /// The alias `GET /config` reports the key under, if any.
    pub fn primary_alias(&self) -> Option<&'static str> {
        self.aliases.first().copied()
    }

    /// True for credentials that must not be printed in logs.
    pub fn is_secret(&self) -> bool {
        matches!(
            self.key,
            Key::PhCredsSecret | Key::PhFactoryAutotok | Key::PvLanPvrToken
        )
    }
}

const P: LevelMask = LevelMask::PV;
const P_O: LevelMask = LevelMask::PV.union(LevelMask::OEM);
const P_O_R: LevelMask = P_O.union(LevelMask::RUN);
const H_O: LevelMask = LevelMask::PH.union(LevelMask::OEM);
const H_O_R: LevelMask = H_O.union(LevelMask::RUN);

macro_rules! key_table {
    ($($var:ident $name:literal $ty:expr, $mask:expr, [$($alias:literal),*];)+) => {
        /// A configuration key. `Key::X.def()` gives its table row.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Key { $($var),+ }

        /// The key table, in the original's order (which `GET /config2`
        /// and pantahub.config follow).
        pub static KEYS: &[KeyDef] = &[
            $(KeyDef { key: Key::$var, name: $name, ty: $ty, mask: $mask, aliases: &[$($alias),*] }),+
        ];
    };
}

key_table! {
    PhCredsHost "PH_CREDS_HOST" Str(Some("api.pantahub.com")), H_O, ["creds.host"];
    PhCredsId "PH_CREDS_ID" Str(None), H_O, ["creds.id"];
    PhCredsPort "PH_CREDS_PORT" Int(443), H_O, ["creds.port"];
    PhCredsProxyHost "PH_CREDS_PROXY_HOST" Str(None), H_O, ["creds.proxy.host"];
    PhCredsProxyNoproxyconnect "PH_CREDS_PROXY_NOPROXYCONNECT" Int(0), H_O, ["creds.proxy.noproxyconnect"];
    PhCredsProxyPort "PH_CREDS_PROXY_PORT" Int(3218), H_O, ["creds.proxy.port"];
    PhCredsPrn "PH_CREDS_PRN" Str(None), H_O, ["creds.prn"];
    PhCredsSecret "PH_CREDS_SECRET" Str(None), H_O, ["creds.secret"];
    PhCredsType "PH_CREDS_TYPE" Str(Some("builtin")), H_O, ["creds.type"];
    PhFactoryAutotok "PH_FACTORY_AUTOTOK" Str(None), H_O, ["factory.autotok"];
    PhLibeventHttpTimeout "PH_LIBEVENT_HTTP_TIMEOUT" Duration(60), H_O_R, [];
    PhLibeventHttpRetries "PH_LIBEVENT_HTTP_RETRIES" Int(1), H_O_R, [];
    PhMetadataDevmetaInterval "PH_METADATA_DEVMETA_INTERVAL" Duration(10), H_O_R, ["metadata.devmeta.interval"];
    PhMetadataUsrmetaInterval "PH_METADATA_USRMETA_INTERVAL" Duration(5), H_O_R, ["metadata.usrmeta.interval"];
    PhOnlineRequestThreshold "PH_ONLINE_REQUEST_THRESHOLD" Int(0), H_O_R, [];
    PhUpdaterInterval "PH_UPDATER_INTERVAL" Duration(60), H_O_R, ["updater.interval"];
    PhUpdaterNetworkTimeout "PH_UPDATER_NETWORK_TIMEOUT" Duration(120), H_O_R, ["updater.network_timeout"];
    PhUpdaterTransferMaxCount "PH_UPDATER_TRANSFER_MAX_COUNT" Int(5), H_O_R, [];
    PvBootloaderFitconfig "PV_BOOTLOADER_FITCONFIG" Str(None), P, ["bootloader.fitconfig"];
    PvBootloaderMtdEnv "PV_BOOTLOADER_MTD_ENV" Str(None), P, ["bootloader.mtd_env"];
    PvBootloaderMtdOnly "PV_BOOTLOADER_MTD_ONLY" Bool(false), P, ["bootloader.mtd_only"];
    PvBootloaderType "PV_BOOTLOADER_TYPE" Enum(BootloaderType::NAMES, "uboot"), P, ["bootloader.type"];
    PvBootloaderUbootabAName "PV_BOOTLOADER_UBOOTAB_A_NAME" Str(Some("fitA")), P, [];
    PvBootloaderUbootabBName "PV_BOOTLOADER_UBOOTAB_B_NAME" Str(Some("fitB")), P, [];
    PvBootloaderUbootabEnvName "PV_BOOTLOADER_UBOOTAB_ENV_NAME" Str(None), P, [];
    PvBootloaderUbootabEnvBakName "PV_BOOTLOADER_UBOOTAB_ENV_BAK_NAME" Str(None), P, [];
    PvBootloaderUbootabEnvOffset "PV_BOOTLOADER_UBOOTAB_ENV_OFFSET" Int(0), P, [];
    PvBootloaderUbootabEnvSize "PV_BOOTLOADER_UBOOTAB_ENV_SIZE" Int(0), P, [];
    PvCacheDevmetadir "PV_CACHE_DEVMETADIR" Str(Some("/storage/cache/devmeta")), P, ["cache.devmetadir"];
    PvCacheUsrmetadir "PV_CACHE_USRMETADIR" Str(Some("/storage/cache/meta")), P, ["cache.usrmetadir", "meta.cache.dir"];
    PvControlRemote "PV_CONTROL_REMOTE" Bool(true), P_O, ["control.remote"];
    PvControlRemoteAlways "PV_CONTROL_REMOTE_ALWAYS" Bool(false), P_O, ["control.remote.always"];
    PvDebugShell "PV_DEBUG_SHELL" Bool(true), P, ["debug.shell"];
    PvDebugShellAutologin "PV_DEBUG_SHELL_AUTOLOGIN" Bool(false), P, ["debug.shell.autologin"];
    PvDebugShellTimeout "PV_DEBUG_SHELL_TIMEOUT" Duration(60), P, [];
    PvDebugSsh "PV_DEBUG_SSH" Bool(true), P_O_R, ["debug.ssh"];
    PvDebugSshAuthorizedKeys "PV_DEBUG_SSH_AUTHORIZED_KEYS" Str(None), P_O_R, ["debug.ssh_authorized_keys"];
    PvDiskExportsdir "PV_DISK_EXPORTSDIR" Str(Some("/exports")), P, ["disk.exportsdir"];
    PvDiskVoldir "PV_DISK_VOLDIR" Str(Some("/volumes")), P, ["disk.voldir"];
    PvDiskWritabledir "PV_DISK_WRITABLEDIR" Str(Some("/writable")), P, ["disk.writabledir"];
    PvDropbearCacheDir "PV_DROPBEAR_CACHE_DIR" Str(Some("/storage/cache/dropbear")), P, ["dropbear.cache.dir"];
    PvLibeventDebugMode "PV_LIBEVENT_DEBUG_MODE" Bool(false), P_O, [];
    PvLibthttpCertsdir "PV_LIBTHTTP_CERTSDIR" Str(Some("/certs")), P, ["libthttp.certdir"];
    PvLibthttpLogLevel "PV_LIBTHTTP_LOG_LEVEL" Int(3), P_O_R, ["libthttp.log.level"];
    PvLogAutoDevlog "PV_LOG_AUTO_DEVLOG" Bool(true), P_O, [];
    PvLogCapture "PV_LOG_CAPTURE" Bool(true), P_O, ["log.capture"];
    PvLogCaptureDmesg "PV_LOG_CAPTURE_DMESG" Bool(true), P_O, ["log.capture.dmesg"];
    PvLogBufNitems "PV_LOG_BUF_NITEMS" Int(128), P_O, ["log.buf_nitems"];
    PvLogDir "PV_LOG_DIR" Str(Some("/storage/logs/")), P, ["log.dir"];
    PvLogDirMaxsize "PV_LOG_DIR_MAXSIZE" Size("0"), P_O_R, [];
    PvLogFiletreeTimestampFormat "PV_LOG_FILETREE_TIMESTAMP_FORMAT" Str(None), P_O_R, ["log.filetree.timestamp.format"];
    PvLogHysteresisFactor "PV_LOG_HYSTERESIS_FACTOR" Int(4), P_O_R, [];
    PvLogLevel "PV_LOG_LEVEL" Int(0), P_O_R, ["log.level"];
    PvLogLoggers "PV_LOG_LOGGERS" Bool(true), P_O, ["log.loggers"];
    PvLogPush "PV_LOG_PUSH" Bool(true), P_O_R, ["log.push", "pantahub.log.push"];
    PvLogRotateFactor "PV_LOG_ROTATE_FACTOR" Int(5), P_O_R, [];
    PvLogServerOutputs "PV_LOG_SERVER_OUTPUTS" LogOutputs("filetree"), P_O_R, ["log.server.outputs"];
    PvLogSinglefileTimestampFormat "PV_LOG_SINGLEFILE_TIMESTAMP_FORMAT" Str(None), P_O_R, ["log.singlefile.timestamp.format"];
    PvLogStdoutTimestampFormat "PV_LOG_STDOUT_TIMESTAMP_FORMAT" Str(None), P_O_R, ["log.stdout.timestamp.format"];
    PvLogTimestamp "PV_LOG_TIMESTAMP" Enum(LogTimestamp::NAMES, "relative"), P_O_R, [];
    PvLoopIndexBase "PV_LOOP_INDEX_BASE" Int(-1), P, [];
    PvLxcLogLevel "PV_LXC_LOG_LEVEL" Int(2), P_O, ["lxc.log.level"];
    PvNetBraddress4 "PV_NET_BRADDRESS4" Str(Some("10.0.3.1")), P_O, ["net.braddress4"];
    PvNetBrdev "PV_NET_BRDEV" Str(Some("lxcbr0")), P_O, ["net.brdev"];
    PvNetBrmask4 "PV_NET_BRMASK4" Str(Some("255.255.255.0")), P_O, ["net.brmask4"];
    PvOemName "PV_OEM_NAME" Str(None), P, [];
    PvPolicy "PV_POLICY" Str(None), P, ["policy"];
    PvPowerMode "PV_POWER_MODE" Enum(PowerMode::NAMES, "locks"), P_O_R, [];
    PvPowerSysfsDir "PV_POWER_SYSFS_DIR" Str(Some("/sys/power")), P_O_R, [];
    PvPowerDevmetaEagerPush "PV_POWER_DEVMETA_EAGER_PUSH" Bool(false), P_O_R, [];
    PvPowerDevmetaMaxHeld "PV_POWER_DEVMETA_MAX_HELD" Duration(300), P_O_R, [];
    PvPowerAutosleepSettle "PV_POWER_AUTOSLEEP_SETTLE" Duration(90), P_O_R, [];
    PvPowerWakeInterval "PV_POWER_WAKE_INTERVAL" Duration(3600), P_O_R, [];
    PvPowerWakeMinAwake "PV_POWER_WAKE_MIN_AWAKE" Duration(10), P_O_R, [];
    PvPowerWakeMaxAwake "PV_POWER_WAKE_MAX_AWAKE" Duration(60), P_O_R, [];
    PvPowerWakeRunWindow "PV_POWER_WAKE_RUN_WINDOW" Duration(0), P_O_R, [];
    PvRevisionRetries "PV_REVISION_RETRIES" Int(10), P_O_R, ["revision.retries"];
    PvSecurebootChecksum "PV_SECUREBOOT_CHECKSUM" Bool(true), P, ["secureboot.checksum"];
    PvSecurebootHandlers "PV_SECUREBOOT_HANDLERS" Bool(true), P, ["secureboot.handlers"];
    PvSecurebootMode "PV_SECUREBOOT_MODE" Enum(SecurebootMode::NAMES, "lenient"), P, ["secureboot.mode"];
    PvSecurebootOemTruststore "PV_SECUREBOOT_OEM_TRUSTSTORE" Str(Some("ca-oem-certificates")), P, [];
    PvSecurebootTruststore "PV_SECUREBOOT_TRUSTSTORE" Str(Some("ca-certificates")), P, ["secureboot.truststore"];
    PvStorageDevice "PV_STORAGE_DEVICE" Str(None), P, ["storage.device"];
    PvStorageFstype "PV_STORAGE_FSTYPE" Str(None), P, ["storage.fstype"];
    PvStorageFirmwareVol "PV_STORAGE_FIRMWARE_VOL" Bool(false), P, [];
    PvStorageGcKeepFactory "PV_STORAGE_GC_KEEP_FACTORY" Bool(false), P_O_R, ["storage.gc.keep_factory", "updater.keep_factory"];
    PvStorageGcReserved "PV_STORAGE_GC_RESERVED" Int(5), P_O_R, ["storage.gc.reserved"];
    PvStorageGcThresholdDefertime "PV_STORAGE_GC_THRESHOLD_DEFERTIME" Duration(600), P_O_R, ["storage.gc.threshold.defertime"];
    PvStorageGcThreshold "PV_STORAGE_GC_THRESHOLD" Int(0), P_O_R, ["storage.gc.threshold"];
    PvStorageLogtempsize "PV_STORAGE_LOGTEMPSIZE" Str(None), P, ["storage.logtempsize"];
    PvStorageMntpoint "PV_STORAGE_MNTPOINT" Str(None), P, ["storage.mntpoint"];
    PvStorageMnttype "PV_STORAGE_MNTTYPE" Str(None), P, ["storage.mnttype"];
    PvStoragePhconfigVol "PV_STORAGE_PHCONFIG_VOL" Bool(false), P, [];
    PvStorageWait "PV_STORAGE_WAIT" Duration(5), P, ["storage.wait"];
    PvSystemApparmorProfiles "PV_SYSTEM_APPARMOR_PROFILES" Str(None), P, ["system.apparmor.profiles"];
    PvSystemConfdir "PV_SYSTEM_CONFDIR" Str(Some("/configs")), P, ["system.confdir"];
    PvSystemDisksdir "PV_SYSTEM_DISKSDIR" Str(Some("/run/pantavisor/disks")), P, [];
    PvSystemDriversLoadEarlyAuto "PV_SYSTEM_DRIVERS_LOAD_EARLY_AUTO" Bool(false), P, ["system.drivers.load_early.auto"];
    PvSystemEtcdir "PV_SYSTEM_ETCDIR" Str(Some("/etc")), P, ["system.etcdir"];
    PvSystemEtcpantavisordir "PV_SYSTEM_ETCPANTAVISORDIR" Str(Some("/etc/pantavisor")), P, [];
    PvSystemInitMode "PV_SYSTEM_INIT_MODE" Enum(InitMode::NAMES, "embedded"), P, ["system.init.mode"];
    PvSystemLibdir "PV_SYSTEM_LIBDIR" Str(Some("/lib")), P, ["system.libdir"];
    PvSystemMediadir "PV_SYSTEM_MEDIADIR" Str(Some("/media")), P, ["system.mediadir"];
    PvSystemMountSecurityfs "PV_SYSTEM_MOUNT_SECURITYFS" Bool(false), P, ["system.mount.securityfs"];
    PvSystemRundir "PV_SYSTEM_RUNDIR" Str(Some("/pv")), P, ["system.rundir"];
    PvSystemUsrdir "PV_SYSTEM_USRDIR" Str(Some("/usr")), P, ["system.usrdir"];
    PvUpdaterCommitDelay "PV_UPDATER_COMMIT_DELAY" Duration(25), P_O_R, ["updater.commit.delay"];
    PvUpdaterGoalsTimeout "PV_UPDATER_GOALS_TIMEOUT" Duration(120), P_O, ["updater.goals.timeout"];
    PvUpdaterUseTmpObjects "PV_UPDATER_USE_TMP_OBJECTS" Bool(false), P_O_R, ["updater.use_tmp_objects"];
    PvVolmountDmExtraArgs "PV_VOLMOUNT_DM_EXTRA_ARGS" Str(None), P_O, [];
    PvWdtMode "PV_WDT_MODE" Enum(WdtMode::NAMES, "shutdown"), P, ["wdt.mode"];
    PvWdtTimeout "PV_WDT_TIMEOUT" Duration(15), P, ["wdt.timeout"];
    PvXconnectDbusSystembusEnabled "PV_XCONNECT_DBUS_SYSTEMBUS_ENABLED" Bool(true), P_O, ["xconnect.dbus.systembus.enabled"];
    // ours, after the original's keys (docs/compat.md)
    PvLanPvrListen "PV_LAN_PVR_LISTEN" Str(None), P_O, [];
    PvLanPvrToken "PV_LAN_PVR_TOKEN" Str(None), P_O, [];
    PhCredsCafile "PH_CREDS_CAFILE" Str(None), H_O, ["creds.cafile"];
}

impl Key {
    /// Every key, in table order.
    pub fn all() -> impl Iterator<Item = Key> {
        KEYS.iter().map(|d| d.key)
    }

    /// This key's table row.
    pub fn def(self) -> &'static KeyDef {
        &KEYS[self as usize]
    }

    /// Canonical name.
    pub fn name(self) -> &'static str {
        self.def().name
    }

    /// Find a key by canonical name (ASCII case-insensitive).
    pub fn from_name(name: &str) -> Option<Key> {
        KEYS.iter()
            .find(|d| d.name.eq_ignore_ascii_case(name))
            .map(|d| d.key)
    }

    /// Find a key by legacy dotted alias (ASCII case-insensitive).
    pub fn from_alias(alias: &str) -> Option<Key> {
        KEYS.iter()
            .find(|d| d.aliases.iter().any(|a| a.eq_ignore_ascii_case(alias)))
            .map(|d| d.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn table_is_consistent() {
        let mut names = HashSet::new();
        let mut aliases = HashSet::new();
        for (i, def) in KEYS.iter().enumerate() {
            assert_eq!(def.key as usize, i, "{} out of place", def.name);
            assert!(names.insert(def.name), "duplicate {}", def.name);
            assert!(def.name.starts_with("PV_") || def.name.starts_with("PH_"));
            assert_eq!(def.name, def.name.to_ascii_uppercase());
            for a in def.aliases {
                assert!(aliases.insert(*a), "duplicate alias {a}");
            }
            let _ = def.ty.default_value();
        }
    }

    #[test]
    fn lookups() {
        assert_eq!(Key::from_name("pv_log_level"), Some(Key::PvLogLevel));
        assert_eq!(Key::from_alias("LOG.LEVEL"), Some(Key::PvLogLevel));
        assert_eq!(
            Key::from_alias("meta.cache.dir"),
            Some(Key::PvCacheUsrmetadir)
        );
        assert_eq!(
            Key::from_alias("updater.keep_factory"),
            Some(Key::PvStorageGcKeepFactory)
        );
        assert_eq!(Key::from_alias("pantahub.log.push"), Some(Key::PvLogPush));
        assert_eq!(
            Key::PvCacheUsrmetadir.def().primary_alias(),
            Some("cache.usrmetadir")
        );
        assert_eq!(Key::from_name("PV_NOPE"), None);
        assert!(Key::PhCredsSecret.def().is_secret());
    }
}
