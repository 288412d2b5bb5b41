//! Disks set up for real on this host (root): directory volumes, a zram
//! swap disk and a zram ext4 volume disk. dm-crypt needs device-mapper,
//! which this host's kernel lacks: `scripts/vm-test.sh` covers it in QEMU.

use std::path::Path;

use pv_disks::{parse, DiskEnv, Disks, Persistence, ZramSys};

/// Root, and the tools and kernel parts zram disks need.
fn can_run() -> bool {
    pv_testkit::require_root()
        && pv_testkit::require_tools(&[
            "mkswap",
            "swapon",
            "swapoff",
            "mkfs.ext4",
            "/sys/class/zram-control/hot_add",
        ])
}

/// The zram tests run one at a time: each reads the host's zram devices
/// and `/proc/swaps` as a whole, which a parallel test would change.
static ZRAM: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn zram_guard() -> std::sync::MutexGuard<'static, ()> {
    ZRAM.lock().unwrap_or_else(|e| e.into_inner())
}

fn env(root: &Path) -> DiskEnv {
    DiskEnv {
        storage: root.join("storage"),
        media: root.join("media"),
        key_dirs: vec![root.join("bsp")],
        key_store: root.join("storage/config"),
        zram: ZramSys::default(),
        zram_lock: pv_disks::ZRAM_LOCK.into(),
    }
}

fn disks(root: &Path, json: &str) -> Disks {
    let dj: serde_json::Value = serde_json::from_str(json).unwrap();
    let e = env(root);
    let defs = parse(Some(&dj), None, &e.storage).unwrap();
    Disks::new(e, defs)
}

fn zram_initstate(dev: &Path) -> String {
    let n = dev.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::read_to_string(format!("/sys/block/{n}/initstate"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "gone".into())
}

fn mounted_at(p: &Path) -> Option<String> {
    let m = std::fs::read_to_string("/proc/self/mounts").unwrap();
    m.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(&*p.to_string_lossy()))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
}

#[test]
fn directory_disk_holds_volumes_by_persistence() {
    let d = tempfile::tempdir().unwrap();
    let mut ds = disks(
        d.path(),
        r#"{"disks":[{"name":"built-in","path":"/storage/disks/x","type":"directory","default":"yes"}]}"#,
    );
    let base = d.path().join("storage/disks/x");
    let perm = ds
        .volume_dir(None, Persistence::Permanent, "3", "app", "data")
        .unwrap()
        .unwrap();
    assert_eq!(perm, base.join("perm/app/data"));
    let rev = ds
        .volume_dir(Some("built-in"), Persistence::Revision, "3", "app", "v")
        .unwrap()
        .unwrap();
    assert_eq!(rev, base.join("rev/3/app/v"));
    let boot = ds
        .volume_dir(None, Persistence::Boot, "3", "app", "tmp")
        .unwrap()
        .unwrap();
    std::fs::write(boot.join("f"), "x").unwrap();
    let again = ds
        .volume_dir(None, Persistence::Boot, "3", "app", "tmp")
        .unwrap()
        .unwrap();
    assert!(!again.join("f").exists(), "boot volumes start empty");
    let e = ds
        .volume_dir(Some("nope"), Persistence::Permanent, "3", "app", "v")
        .unwrap_err();
    assert_eq!(e.to_string(), "disk nope is not defined in this revision");
    assert_eq!(ds.active(), ["built-in"]);
    assert!(ds.stop_all().is_empty());
    assert!(perm.is_dir(), "a directory disk keeps its data");
}

#[test]
fn zram_disks_swap_and_volume() {
    if !can_run() {
        return;
    }
    let _zram = zram_guard();
    let d = tempfile::tempdir().unwrap();
    let mut ds = disks(
        d.path(),
        r#"{"disks_v2":[
            {"name":"zswap","type":"swap-disk","format":"swap","provision":"zram","provision_options":"disksize=8M"},
            {"name":"zvol","type":"volume-disk","format":"ext4","provision":"zram","provision_options":"disksize=16M","mount_options":"noatime"}]}"#,
    );
    ds.start_swaps().unwrap();
    assert_eq!(ds.active(), ["zswap"]);
    let swaps = std::fs::read_to_string("/proc/swaps").unwrap();
    let swapdev = swaps
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .find(|n| n.starts_with("/dev/zram"))
        .expect("a zram swap in /proc/swaps");
    assert_eq!(zram_initstate(Path::new(&swapdev)), "1");
    let vol = ds
        .volume_dir(Some("zvol"), Persistence::Permanent, "0", "app", "data")
        .unwrap()
        .unwrap();
    let mp = d.path().join("media/zram/zvol");
    assert_eq!(vol, mp.join("perm/app/data"));
    let src = mounted_at(&mp).expect("zram volume mounted");
    assert!(src.starts_with("/dev/zram") && src != swapdev, "{src}");
    std::fs::write(vol.join("hello"), "through zram").unwrap();
    assert!(ds.stop_all().is_empty());
    assert!(mounted_at(&mp).is_none());
    assert!(!std::fs::read_to_string("/proc/swaps")
        .unwrap()
        .contains(&swapdev));
    // reset (or hot-removed): free for the next user
    for dev in [swapdev.as_str(), src.as_str()] {
        let st = zram_initstate(Path::new(dev));
        assert!(st == "0" || st == "gone", "{dev}: {st}");
    }
}

#[test]
fn zram_without_size_and_hardware_crypt_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let mut ds = disks(
        d.path(),
        r#"{"disks":[{"name":"caam","path":"/storage/c.img,2,k","type":"dm-crypt-caam"}],
           "disks_v2":[{"name":"z","type":"swap-disk","provision":"zram","provision_options":"comp_algorithm=lzo"}]}"#,
    );
    let e = ds.start_swaps().unwrap_err();
    assert_eq!(
        e.to_string(),
        "disk z: zram provision_options need a disksize"
    );
    let e = ds
        .volume_dir(Some("caam"), Persistence::Permanent, "0", "a", "v")
        .unwrap_err();
    assert!(e.to_string().contains("needs i.MX crypto hardware"), "{e}");
    assert!(ds.active().is_empty());
}

#[test]
fn a_runtime_that_died_leaves_a_record_to_reap() {
    if !can_run() {
        return;
    }
    let _zram = zram_guard();
    let d = tempfile::tempdir().unwrap();
    let record = d.path().join("internal/disks.json");
    let mut ds = disks(
        d.path(),
        r#"{"disks_v2":[
            {"name":"zswap","type":"swap-disk","format":"swap","provision":"zram","provision_options":"disksize=4M"},
            {"name":"zvol","type":"volume-disk","format":"ext4","provision":"zram","provision_options":"disksize=8M"}]}"#,
    )
    .with_record(record.clone());
    ds.start_swaps().unwrap();
    ds.ensure("zvol").unwrap();
    let mp = d.path().join("media/zram/zvol");
    let vol_dev = mounted_at(&mp).expect("mounted");
    let swaps = std::fs::read_to_string("/proc/swaps").unwrap();
    let swap_dev = swaps
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .find(|n| n.starts_with("/dev/zram"))
        .unwrap();
    // the process dies: nothing is torn down, the record stays
    std::mem::forget(ds);
    assert!(record.exists());
    let reaped = pv_disks::reap(&record, &ZramSys::default());
    assert_eq!(reaped, ["zvol", "zswap"], "last set up first");
    assert!(mounted_at(&mp).is_none());
    assert!(!std::fs::read_to_string("/proc/swaps")
        .unwrap()
        .contains(&swap_dev));
    for dev in [swap_dev, vol_dev] {
        let st = zram_initstate(Path::new(&dev));
        assert!(st == "0" || st == "gone", "{dev}: {st}");
    }
    assert!(!record.exists());
    assert!(pv_disks::reap(&record, &ZramSys::default()).is_empty());
}
