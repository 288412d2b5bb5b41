//! What lands on disk: filetree paths and line formats, singlefile JSON,
//! the level filter, the update sink, revision switches, and size
//! management with a tiny budget.

mod common;

use std::time::Duration;

use common::{send, wait_for, Env};
use pv_logs::proto_binary::encode_legacy;
use pv_logs::rotation::tree_size;
use pv_logs::{read_update_logs, DirMaxSize, Level};

const T: Duration = Duration::from_secs(10);

/// `[pantavisor] <n> <LEVEL>\t -- [<src>]: <msg>`
fn assert_pv_line(line: &str, level: &str, src: &str, msg: &str) {
    let rest = line.strip_prefix("[pantavisor] ").expect(line);
    let (secs, rest) = rest.split_once(' ').expect(line);
    assert!(secs.parse::<u64>().is_ok(), "{line}");
    assert_eq!(rest, format!("{level}\t -- [{src}]: {msg}"), "{line}");
}

#[test]
fn filetree_paths_and_line_formats() {
    let env = Env::new("filetree");
    let server = env.start();
    let h = server.handle();
    h.log(
        Level::Info,
        "pantavisor",
        "controller",
        "state changed\nsecond line",
    );
    h.log(Level::Warn, "app1", "/var/log/messages", "from pvlogger");
    send(
        &server,
        &encode_legacy(Level::Info, "app1", "lxc/lxc.log", b"raw bytes, no newline"),
    );
    assert!(h.flush(T));
    let logs = env.logs().join("0");
    let pv = wait_for(&logs.join("pantavisor/pantavisor.log"), |s| {
        s.lines().count() == 2
    });
    let lines: Vec<_> = pv.lines().collect();
    assert_pv_line(lines[0], "INFO", "controller", "state changed");
    assert_pv_line(lines[1], "INFO", "controller", "second line");
    assert_eq!(
        std::fs::read_to_string(logs.join("app1/var/log/messages")).unwrap(),
        "from pvlogger\n"
    );
    wait_for(&logs.join("app1/lxc/lxc.log"), |s| {
        s == "raw bytes, no newline"
    });
}

#[test]
fn filetree_timestamp_prefix() {
    let mut env = Env::new("filetree");
    env.cfg.filetree_timestamp_format = Some("strftime:%Y".into());
    let server = env.start();
    let h = server.handle();
    h.log(Level::Info, "pantavisor", "m", "x");
    h.log(Level::Info, "c", "s", "y");
    assert!(h.flush(T));
    let pv = std::fs::read_to_string(env.logs().join("0/pantavisor/pantavisor.log")).unwrap();
    let year = pv.strip_prefix("[pantavisor] [").unwrap();
    assert!(year[..4].parse::<u32>().unwrap() >= 2024, "{pv}");
    let c = std::fs::read_to_string(env.logs().join("0/c/s")).unwrap();
    assert!(c.starts_with('[') && c.ends_with("] y\n"), "{c}");
}

#[test]
fn level_filter() {
    let mut env = Env::new("filetree");
    env.cfg.level = Level::Info;
    let server = env.start();
    let h = server.handle();
    h.log(Level::Debug, "pantavisor", "m", "hidden");
    h.log(Level::Info, "pantavisor", "m", "shown");
    h.log(Level::Trace, "c", "s", "hidden too");
    assert!(h.flush(T));
    let pv = std::fs::read_to_string(env.logs().join("0/pantavisor/pantavisor.log")).unwrap();
    assert!(pv.contains("shown") && !pv.contains("hidden"), "{pv}");
    assert!(!env.logs().join("0/c/s").exists());
    // what the layer of the runtime asks before it formats a message
    assert!(!h.wants(Level::Debug) && !h.wants(Level::Trace));
    assert!(h.wants(Level::Info) && h.wants(Level::Warn) && h.wants(Level::Error));
}

#[test]
fn errors_reach_the_update_log_below_the_configured_level() {
    let mut env = Env::new("filetree");
    env.cfg.level = Level::Fatal;
    let server = env.start();
    let h = server.handle();
    assert!(h.wants(Level::Error) && h.wants(Level::Fatal) && !h.wants(Level::Warn));
    h.start_update("locals/t1");
    h.log(Level::Error, "pantavisor", "controller", "kept for the hub");
    h.log(Level::Warn, "pantavisor", "controller", "dropped");
    assert!(h.flush(T));
    let tmp = env.storage().join("trails/locals/t1/.pv/logs.tmp");
    let collected = std::fs::read_to_string(&tmp).unwrap();
    assert!(collected.contains("kept for the hub"), "{collected}");
    assert!(!collected.contains("dropped"), "{collected}");
    // an error below the level is in the update's log only
    let pv = env.logs().join("0/pantavisor/pantavisor.log");
    let text = std::fs::read_to_string(&pv).unwrap_or_default();
    assert!(!text.contains("kept for the hub"), "{text}");
}

#[test]
fn singlefile_json_lines() {
    let mut env = Env::new("singlefile");
    env.cfg.timestamp = pv_logs::TimestampMode::Absolute;
    let server = env.start();
    let h = server.handle();
    h.log(Level::Error, "pantavisor", "updater", "a \"quoted\" word");
    h.log(Level::Info, "app1", "out", "one\ntwo");
    assert!(h.flush(T));
    assert!(!env.logs().join("0/pantavisor").exists());
    let text = std::fs::read_to_string(env.logs().join("0/pv.log")).unwrap();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    for l in &lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let keys: Vec<_> = l
            .split(&[',', '{'][..])
            .filter_map(|p| p.split_once("\":").map(|(k, _)| k.trim_start_matches('"')))
            .collect();
        assert_eq!(
            keys,
            ["tsec", "tnano", "platform", "lvl", "src", "msg"],
            "{l}"
        );
        assert!(v["tsec"].as_u64().unwrap() > 1_600_000_000);
        assert_eq!(v["tnano"], 0);
    }
    let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(first["platform"], "pantavisor");
    assert_eq!(first["lvl"], "ERROR");
    assert_eq!(first["src"], "updater");
    assert_eq!(first["msg"], "a \"quoted\" word");
    let third: serde_json::Value = serde_json::from_str(lines[2]).unwrap();
    assert_eq!(
        (third["platform"].as_str(), third["msg"].as_str()),
        (Some("app1"), Some("two"))
    );
}

#[test]
fn nothing_is_written_before_the_revision_is_known() {
    let mut env = Env::new("filetree");
    env.cfg.revision = None;
    let server = env.start();
    let h = server.handle();
    h.log(Level::Info, "pantavisor", "m", "early");
    h.set_revision("3");
    h.log(Level::Info, "pantavisor", "m", "late");
    assert!(h.flush(T));
    let pv = std::fs::read_to_string(env.logs().join("3/pantavisor/pantavisor.log")).unwrap();
    assert!(pv.contains("late") && !pv.contains("early"));
}

#[test]
fn revision_switch_moves_new_lines() {
    let env = Env::new("filetree");
    let server = env.start();
    let h = server.handle();
    h.log(Level::Info, "app1", "out", "old rev");
    h.set_revision("locals/t1");
    h.log(Level::Info, "app1", "out", "new rev");
    assert!(h.flush(T));
    let logs = env.logs();
    assert_eq!(
        std::fs::read_to_string(logs.join("0/app1/out")).unwrap(),
        "old rev\n"
    );
    assert_eq!(
        std::fs::read_to_string(logs.join("locals/t1/app1/out")).unwrap(),
        "new rev\n"
    );
}

#[test]
fn update_sink_collects_errors_and_is_promoted() {
    let env = Env::new("filetree");
    let server = env.start();
    let h = server.handle();
    h.log(Level::Error, "pantavisor", "controller", "before update");
    h.start_update("locals/t1");
    h.log(
        Level::Error,
        "pantavisor",
        "controller",
        "container A could not be started",
    );
    h.log(Level::Info, "pantavisor", "controller", "not an error");
    h.log(Level::Fatal, "A", "lxc", "init missing");
    assert!(h.flush(T));
    let tmp = env.storage().join("trails/locals/t1/.pv/logs.tmp");
    let collected = std::fs::read_to_string(&tmp).unwrap();
    assert_eq!(collected.lines().count(), 2, "{collected}");
    let promoted = h.stop_update(T).unwrap().unwrap();
    assert_eq!(promoted, env.storage().join("trails/locals/t1/.pv/logs"));
    assert!(!tmp.exists());
    let text = std::fs::read_to_string(&promoted).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["platform"], "pantavisor");
    assert_eq!(first["lvl"], "ERROR");
    assert_eq!(first["src"], "controller");
    assert_eq!(first["msg"], "container A could not be started");
    assert!(text.starts_with("{\"tsec\":"), "{text}");
    assert!(text.lines().nth(1).unwrap().contains("\"lvl\":\"FATAL\""));
    let embedded = read_update_logs(&env.storage(), "locals/t1", 4096).unwrap();
    assert_eq!(embedded, text.trim_end());
    // after the update, errors are no longer collected
    h.log(Level::Error, "pantavisor", "controller", "after");
    assert!(h.flush(T));
    assert!(!tmp.exists());
    assert_eq!(h.stop_update(T).unwrap(), None);
}

#[test]
fn rotation_and_watermark_deletion_with_a_tiny_budget() {
    let mut env = Env::new("filetree");
    env.cfg.dir_maxsize = DirMaxSize::Bytes(20_000);
    let server = env.start();
    let wm = server.watermarks();
    assert_eq!(
        (wm.budget, wm.gap, wm.high, wm.low, wm.rotate_size),
        (20_000, 5_000, 18_000, 15_000, 1_000)
    );
    let h = server.handle();
    // poorly compressible payload: hex of a pseudo-random sequence
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..600 {
        let mut line = String::new();
        for _ in 0..25 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            line.push_str(&format!("{x:016x}"));
        }
        h.log(Level::Info, "app1", "noisy.log", &line);
    }
    assert!(h.flush(T));
    let dir = env.logs().join("0/app1");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let seqs: Vec<u64> = names
        .iter()
        .filter_map(|n| {
            n.strip_prefix("noisy.log.")?
                .strip_suffix(".gz")?
                .parse()
                .ok()
        })
        .collect();
    // each rotation happens when the file reaches 1000 bytes (3 lines of 401)
    assert!(seqs.len() >= 3, "{names:?}");
    let max = *seqs.iter().max().unwrap();
    assert_eq!(max, 200, "{names:?}");
    // the oldest ones were deleted, the newest kept
    assert!(!seqs.contains(&1), "{names:?}");
    assert!(seqs.contains(&max));
    // the 600th message triggered a recount and deletion down to the low mark
    let size = tree_size(&env.logs());
    assert!(size <= wm.low, "size {size} > low {}", wm.low);
    assert!(size > wm.low - 2_000, "deleted too much: {size}");
}
