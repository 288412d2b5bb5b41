//! Every spelling of a key the original accepts at the command-line and
//! user-metadata levels (spec §7.1-7.3, §8.3; seed 7.1 legacy keys).

use pv_config::{BootSources, Config, Key, Level, Warning};

fn boot(cmdline: &str) -> Config {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("pantavisor.config");
    std::fs::write(&conf, "PV_LOG_LEVEL=2\n").unwrap();
    Config::load_boot(&BootSources {
        config_path: Some(&conf),
        cmdline,
        env: vec![],
    })
    .unwrap()
}

fn with_ph(cmdline: &str) -> Config {
    let dir = tempfile::tempdir().unwrap();
    let ph = dir.path().join("pantahub.config");
    std::fs::write(&ph, "creds.host=hub.example\nPH_CREDS_PORT=443\n").unwrap();
    let mut c = boot(cmdline);
    c.load_ph_config(&ph, cmdline).unwrap();
    c
}

#[test]
fn ph_cmdline_takes_legacy_canonical_and_underscore_spellings() {
    for word in [
        "ph_creds.port=43",
        "ph_PH_CREDS_PORT=43",
        "ph_ph_creds_port=43",
        "ph_creds_port=43",
        "ph_CREDS.PORT=43",
    ] {
        let c = with_ph(&format!("console=ttyS0 {word} pv_rev=0"));
        assert_eq!(c.get_int(Key::PhCredsPort), 43, "{word}");
        assert_eq!(c.modified(Key::PhCredsPort), Level::PhCmdline, "{word}");
    }
    let c = with_ph("ph_metadata.devmeta.interval=15 ph_updater.interval=9");
    assert_eq!(c.get_duration(Key::PhMetadataDevmetaInterval).as_secs(), 15);
    assert_eq!(c.modified(Key::PhMetadataDevmetaInterval), Level::PhCmdline);
    assert_eq!(c.get_duration(Key::PhUpdaterInterval).as_secs(), 9);
    assert_eq!(c.get_str(Key::PhCredsHost), "hub.example");
    assert_eq!(c.modified(Key::PhCredsHost), Level::PhConf);
}

#[test]
fn ph_cmdline_refuses_pv_keys_and_pv_cmdline_refuses_ph_keys() {
    let mut c = with_ph("ph_log.level=5 pv_creds.port=44");
    assert_eq!(c.get_int(Key::PvLogLevel), 2);
    assert_eq!(c.modified(Key::PvLogLevel), Level::PvConf);
    assert_eq!(c.get_int(Key::PhCredsPort), 443);
    let w = c.take_warnings();
    assert!(
        w.contains(&Warning::NotAllowed {
            key: "PV_LOG_LEVEL".into(),
            level: Level::PhCmdline
        }),
        "{w:?}"
    );
    assert!(
        w.contains(&Warning::NotAllowed {
            key: "PH_CREDS_PORT".into(),
            level: Level::PvCmdline
        }),
        "{w:?}"
    );
}

#[test]
fn pv_cmdline_spellings() {
    for word in ["pv_log.level=4", "pv_PV_LOG_LEVEL=4", "pv_log_level=4"] {
        let c = boot(word);
        assert_eq!(c.get_int(Key::PvLogLevel), 4, "{word}");
        assert_eq!(c.modified(Key::PvLogLevel), Level::PvCmdline, "{word}");
    }
}

#[test]
fn user_metadata_sets_every_run_key_by_any_name_and_removal_restores() {
    // (user-meta key, config key, value): the seed's list of keys user
    // metadata may override, the original's other aliases, canonical names
    let cases = [
        ("debug.ssh", Key::PvDebugSsh, "0"),
        ("storage.gc.reserved", Key::PvStorageGcReserved, "7"),
        ("storage.gc.keep_factory", Key::PvStorageGcKeepFactory, "1"),
        ("updater.keep_factory", Key::PvStorageGcKeepFactory, "1"),
        ("storage.gc.threshold", Key::PvStorageGcThreshold, "30"),
        (
            "storage.gc.threshold.defertime",
            Key::PvStorageGcThresholdDefertime,
            "60",
        ),
        ("updater.interval", Key::PhUpdaterInterval, "5"),
        ("log.level", Key::PvLogLevel, "5"),
        ("log.push", Key::PvLogPush, "0"),
        ("pantahub.log.push", Key::PvLogPush, "0"),
        ("libthttp.log.level", Key::PvLibthttpLogLevel, "5"),
        (
            "metadata.devmeta.interval",
            Key::PhMetadataDevmetaInterval,
            "20",
        ),
        (
            "metadata.usrmeta.interval",
            Key::PhMetadataUsrmetaInterval,
            "20",
        ),
        ("PV_LOG_LEVEL", Key::PvLogLevel, "6"),
        ("pv_log_level", Key::PvLogLevel, "6"),
        ("PH_UPDATER_INTERVAL", Key::PhUpdaterInterval, "5"),
    ];
    for (name, key, value) in cases {
        let mut c = with_ph("");
        let before = (c.get(key).display_string(), c.modified(key));
        assert!(c.set_metadata(name, value), "{name}");
        assert_eq!(c.modified(key), Level::Metadata, "{name}");
        assert_ne!(c.get(key).display_string(), before.0, "{name}");
        assert!(c.remove_metadata(name), "{name}");
        assert_eq!(
            (c.get(key).display_string(), c.modified(key)),
            before,
            "{name}"
        );
    }
}

#[test]
fn user_metadata_ignores_other_keys_and_refuses_keys_without_run_level() {
    let mut c = with_ph("");
    c.take_warnings();
    assert!(!c.set_metadata("pvr-sdk.authorized_keys", "ssh-ed25519 AAAA"));
    assert!(!c.set_metadata("color", "blue"));
    assert!(
        c.take_warnings().is_empty(),
        "plain user meta is not config"
    );
    // known, but not allowed at the metadata level
    assert!(!c.set_metadata("system.rundir", "/x"));
    assert!(!c.set_metadata("creds.host", "evil.example"));
    assert_eq!(c.get_str(Key::PvSystemRundir), "/pv");
    assert_eq!(c.get_str(Key::PhCredsHost), "hub.example");
    assert_eq!(c.take_warnings().len(), 4, "two legacy notes, two refusals");
}
