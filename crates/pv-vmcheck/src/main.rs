//! Runs inside the QEMU guest of `scripts/vm-test.sh` (a stock Debian
//! kernel with modules and device-mapper), as root, after the guest's
//! init mounted /proc, /sys, /dev and a tmpfs on /storage:
//!
//! * `kmod-*`: `dummy` loaded and unloaded through `pv-kmod` with modprobe
//!   semantics (alias, options, already-loaded, not-loaded, unknown), and
//!   modules with dependencies from xz-compressed files;
//! * `disk-crypt`: a `dm-crypt-versatile` disk (LUKS2 on a loop-backed
//!   image) created, mounted, a volume written through it, closed,
//!   reopened with the data intact, refused with a wrong key.
//!
//! Prints one `PVCHECK <name> PASS|FAIL <detail>` line per check and
//! `PVCHECK-DONE pass=<n> fail=<m>` last; the host reads the console.

use std::path::{Path, PathBuf};

use pv_disks::{DiskEnv, Disks, Persistence, ZramSys};
use pv_kmod::{ModState, Modprobe};

type Check = Result<String, String>;

/// A named check.
type Named = (&'static str, fn() -> Check);

fn ensure(cond: bool, what: impl Into<String>) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what.into())
    }
}

fn modprobe() -> Result<Modprobe, String> {
    Modprobe::open(&pv_kmod::host_modules_dir()).map_err(|e| e.to_string())
}

fn kmod_dummy() -> Check {
    let mp = modprobe()?;
    ensure(
        mp.kernel.state("dummy") == ModState::Absent,
        "dummy loaded before the test",
    )?;
    // by alias, with an option that only the named module gets
    let r = mp
        .load("rtnl-link-dummy", "numdummies=3")
        .map_err(|e| e.to_string())?;
    ensure(
        r.inserted == ["dummy"],
        format!("inserted {:?}", r.inserted),
    )?;
    ensure(mp.kernel.state("dummy") == ModState::Live, "dummy not live")?;
    // numdummies=3: dummy0..dummy2, no dummy3
    ensure(
        Path::new("/sys/class/net/dummy2").exists() && !Path::new("/sys/class/net/dummy3").exists(),
        "the option did not reach the module (dummy0..2 expected)",
    )?;
    let again = mp.load("dummy", "").map_err(|e| e.to_string())?;
    ensure(
        again.inserted.is_empty() && again.present == ["dummy"],
        "loaded twice",
    )?;
    let removed = mp.unload("dummy").map_err(|e| e.to_string())?;
    ensure(removed == ["dummy"], format!("removed {removed:?}"))?;
    ensure(mp.kernel.state("dummy") == ModState::Absent, "still loaded")?;
    let e = mp.unload("dummy").err().map(|e| e.to_string());
    ensure(
        e.as_deref() == Some("module dummy is not loaded"),
        format!("second unload: {e:?}"),
    )?;
    let e = mp.load("no-such-module", "").err().map(|e| e.to_string());
    ensure(
        e.as_deref()
            .is_some_and(|e| e.starts_with("module no-such-module not found in /lib/modules/")),
        format!("unknown module: {e:?}"),
    )?;
    Ok("alias, options, reload, unload, errors".into())
}

/// Managed drivers as the runtime uses them: a BSP alias with an option
/// from user metadata, required / optional / manual uses, unload at stop.
fn drivers_managed() -> Check {
    use pv_kmod::managed::{DriverUse, Drivers};
    let meta = PathBuf::from("/run/pv-meta");
    std::fs::create_dir_all(meta.join("user-meta")).map_err(|e| e.to_string())?;
    std::fs::write(meta.join("user-meta/drivers.dummy.n"), "2\n").map_err(|e| e.to_string())?;
    let bsp = serde_json::json!({"#spec": "driver-aliases@1",
        "all": {"net": ["dummy numdummies=${user-meta:drivers.dummy.n}"], "ghost": ["no-such-module"]}});
    let mut d = Drivers::new(Some(&bsp), pv_kmod::host_modules_dir(), meta);
    ensure(d.status("net") == "UNLOADED", "net loaded before")?;
    let uses = [
        ("net".to_string(), DriverUse::Required),
        ("ghost".to_string(), DriverUse::Optional),
        ("wifi".to_string(), DriverUse::Manual),
    ];
    d.load_for("app", &uses)?;
    ensure(d.status("net") == "LOADED", "net not LOADED")?;
    ensure(d.status("ghost") == "UNLOADED", "ghost should have failed")?;
    ensure(d.status("wifi") == "UNKNOWN", "wifi is not in the BSP")?;
    ensure(
        Path::new("/sys/class/net/dummy1").exists() && !Path::new("/sys/class/net/dummy2").exists(),
        "numdummies from user-meta did not reach dummy",
    )?;
    let e = d.load_for("app", &[("ghost".to_string(), DriverUse::Required)]);
    ensure(
        e.as_ref()
            .is_err_and(|e| e.contains("module no-such-module not found")),
        format!("required ghost: {e:?}"),
    )?;
    d.unload_all();
    ensure(d.status("net") == "UNLOADED", "net still LOADED")?;
    ensure(
        modprobe()?.kernel.state("dummy") == ModState::Absent,
        "dummy still in the kernel",
    )?;
    Ok("required loaded with a user-meta option, optional failure tolerated, required failure reported, unloaded".into())
}

fn kmod_deps_xz() -> Check {
    let mp = modprobe()?;
    let r = mp.load("dm-crypt", "").map_err(|e| e.to_string())?;
    let pos = |n: &str| r.inserted.iter().position(|x| x == n);
    ensure(
        pos("dm_mod").is_some() && pos("dm_mod") < pos("dm_crypt"),
        format!("order {:?}", r.inserted),
    )?;
    let path = mp
        .index
        .modules
        .get("dm_crypt")
        .map(|e| e.rel.clone())
        .unwrap_or_default();
    ensure(path.ends_with(".ko.xz"), format!("dm-crypt is {path}"))?;
    // the crypto modules dm-crypt needs (xts, ecb) are not loaded here: the
    // kernel asks for them through /sbin/modprobe, which is this program
    for m in ["loop", "ext4"] {
        mp.load(m, "").map_err(|e| format!("{m}: {e}"))?;
    }
    ensure(
        Path::new("/dev/mapper/control").exists(),
        "no /dev/mapper/control",
    )?;
    Ok(format!("inserted {}", r.inserted.join(",")))
}

fn disk_env(root: &Path) -> DiskEnv {
    DiskEnv {
        storage: root.join("storage"),
        media: root.join("media"),
        key_dirs: vec![root.join("bsp")],
        key_store: root.join("storage/config"),
        zram: ZramSys::default(),
        zram_lock: pv_disks::ZRAM_LOCK.into(),
    }
}

fn crypt_disks(root: &Path) -> Result<Disks, String> {
    let env = disk_env(root);
    let dj = serde_json::json!({"disks": [{
        "name": "dm-versatile",
        "path": "/storage/dm-crypt-file/disk1/versatile.img,16,versatile_key",
        "type": "dm-crypt-versatile",
        "options": "noatime"
    }]});
    let defs = pv_disks::parse(Some(&dj), None, &env.storage).map_err(|e| e.to_string())?;
    Ok(Disks::new(env, defs))
}

fn mounted(p: &Path) -> Option<String> {
    let m = std::fs::read_to_string("/proc/self/mounts").ok()?;
    m.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(&*p.to_string_lossy()))
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
}

fn disk_crypt() -> Check {
    let root = PathBuf::from("/storage/t");
    let bsp = root.join("bsp");
    std::fs::create_dir_all(&bsp).map_err(|e| e.to_string())?;
    std::fs::write(
        bsp.join("versatile_key"),
        b"a key shipped in the BSP, 32+ bytes long",
    )
    .map_err(|e| e.to_string())?;
    let mut ds = crypt_disks(&root)?;
    let vol = ds
        .volume_dir(
            Some("dm-versatile"),
            Persistence::Permanent,
            "0",
            "app",
            "data",
        )
        .map_err(|e| e.to_string())?
        .ok_or("no volume dir")?;
    let mp = root.join("media/dmcrypt/dm-versatile");
    ensure(
        vol == mp.join("perm/app/data"),
        format!("volume at {}", vol.display()),
    )?;
    let src = mounted(&mp).ok_or("crypt disk not mounted")?;
    ensure(
        src == "/dev/mapper/pv-crypt-dm-versatile",
        format!("mounted from {src}"),
    )?;
    std::fs::write(vol.join("secret"), "through dm-crypt").map_err(|e| e.to_string())?;
    let img = root.join("storage/dm-crypt-file/disk1/versatile.img");
    let raw = std::fs::read(&img).map_err(|e| e.to_string())?;
    ensure(raw.starts_with(b"LUKS\xba\xbe"), "image has no LUKS header")?;
    ensure(
        !raw.windows(16).any(|w| w == b"through dm-crypt"),
        "plaintext visible in the image",
    )?;
    let errs = ds.stop_all();
    ensure(errs.is_empty(), format!("teardown: {errs:?}"))?;
    ensure(mounted(&mp).is_none(), "still mounted after stop")?;
    ensure(
        !Path::new("/dev/mapper/pv-crypt-dm-versatile").exists(),
        "mapper still open",
    )?;
    // a new run finds its data again
    let mut ds = crypt_disks(&root)?;
    let vol = ds
        .volume_dir(
            Some("dm-versatile"),
            Persistence::Permanent,
            "1",
            "app",
            "data",
        )
        .map_err(|e| e.to_string())?
        .ok_or("no volume dir")?;
    let back = std::fs::read_to_string(vol.join("secret")).map_err(|e| e.to_string())?;
    ensure(back == "through dm-crypt", format!("read back {back:?}"))?;
    ensure(ds.stop_all().is_empty(), "second teardown")?;
    // the wrong key opens nothing
    std::fs::write(bsp.join("versatile_key"), b"another key").map_err(|e| e.to_string())?;
    let mut ds = crypt_disks(&root)?;
    let e = ds
        .volume_dir(
            Some("dm-versatile"),
            Persistence::Permanent,
            "2",
            "app",
            "data",
        )
        .err()
        .map(|e| e.to_string());
    ensure(
        e.as_deref()
            .is_some_and(|e| e.contains("cryptsetup open failed")),
        format!("wrong key: {e:?}"),
    )?;
    ensure(mounted(&mp).is_none(), "mounted with a wrong key")?;
    // xts(aes) came through the kernel's request to /sbin/modprobe (us)
    let mp = modprobe()?;
    ensure(
        mp.kernel.state("xts") == ModState::Live,
        "xts was not loaded on the kernel's request",
    )?;
    Ok("LUKS2 created, volume written, closed, reopened, wrong key refused; xts loaded on the kernel's request".into())
}

fn main() {
    // the kernel's module requests come here too (/sbin/modprobe links to us)
    let argv0 = std::env::args().next().unwrap_or_default();
    if argv0.ends_with("modprobe") {
        let args: Vec<String> = std::env::args().skip(1).collect();
        std::process::exit(pv_kmod::modprobe_main(&args, &pv_kmod::host_modules_dir()));
    }
    let checks: Vec<Named> = vec![
        ("kmod-dummy", kmod_dummy),
        ("drivers-managed", drivers_managed),
        ("kmod-deps-xz", kmod_deps_xz),
        ("disk-crypt", disk_crypt),
    ];
    let only: Vec<String> = std::env::args().skip(1).collect();
    let (mut pass, mut fail) = (0, 0);
    for (name, f) in checks {
        if !only.is_empty() && !only.iter().any(|o| o == name) {
            continue;
        }
        match f() {
            Ok(d) => {
                pass += 1;
                println!("PVCHECK {name} PASS {d}");
            }
            Err(d) => {
                fail += 1;
                println!("PVCHECK {name} FAIL {d}");
            }
        }
    }
    println!("PVCHECK-DONE pass={pass} fail={fail}");
}
