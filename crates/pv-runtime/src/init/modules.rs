//! Kernel modules at boot (spec §5.13, §1.1 "early driver load"): the
//! devices present are coldplugged from a modules directory (every
//! `modalias` under `/sys/devices` through `modules.alias`, as udev would),
//! first from the initramfs's own `/lib/modules/<uname -r>` (what the
//! storage needs), then from the revision's modules squashfs mounted there
//! ([`super::bsp`]). The kernel's own requests (`fs-squashfs`,
//! `block-major-7`…) reach `/sbin/modprobe`, which is this binary.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use pv_kmod::Modprobe;
use tracing::{debug, info};

/// `/lib/modules/<uname -r>`.
pub fn initramfs_modules_dir() -> PathBuf {
    pv_kmod::host_modules_dir()
}

/// Make `/sbin/modprobe` this binary when the initramfs has none, and the
/// kernel's module helper point at it.
pub fn install_modprobe_helper(exe: &Path) {
    let helper = Path::new("/sbin/modprobe");
    if helper.symlink_metadata().is_err() {
        let _ = std::fs::create_dir_all("/sbin");
        if let Err(e) = std::os::unix::fs::symlink(exe, helper) {
            debug!("symlink {}: {e}", helper.display());
            return;
        }
    }
    let _ = std::fs::write("/proc/sys/kernel/modprobe", "/sbin/modprobe\n");
}

/// Every distinct `modalias` of the devices under `dir` (`/sys/devices`),
/// without following symlinks.
pub fn modaliases(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(t) = e.file_type() else { continue };
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() && e.file_name() == "modalias" {
                if let Ok(s) = std::fs::read_to_string(e.path()) {
                    let s = s.trim();
                    if !s.is_empty() {
                        out.insert(s.to_string());
                    }
                }
            }
        }
    }
    out
}

/// Load the modules of `dir` that the present devices ask for; returns how
/// many were inserted. A directory without `modules.dep` loads nothing.
pub fn coldplug(dir: &Path) -> usize {
    if !dir.join("modules.dep").exists() {
        return 0;
    }
    let mp = match Modprobe::open(dir) {
        Ok(m) => m,
        Err(e) => {
            super::console::say(&format!("modules: {e}"));
            return 0;
        }
    };
    let mut inserted = 0;
    // a loaded bus driver brings new devices: go again until nothing changes
    for _ in 0..4 {
        let before = inserted;
        for alias in modaliases(Path::new("/sys/devices")) {
            if let Ok(r) = mp.load(&alias, "") {
                inserted += r.inserted.len();
            }
        }
        if inserted == before {
            break;
        }
    }
    if inserted > 0 {
        info!("coldplug from {}: {inserted} modules", dir.display());
    }
    inserted
}

/// What the runtime itself needs of the kernel and no device asks for:
/// loop devices (`/dev/loop-control` exists only once `loop` is loaded),
/// squashfs images and overlay roots.
pub const RUNTIME_MODULES: &[&str] = &["loop", "squashfs", "overlay"];

/// Load [`RUNTIME_MODULES`] from `dir` (those it has; built-ins are fine).
pub fn load_runtime_modules(dir: &Path) {
    if dir.join("modules.dep").exists() {
        for m in RUNTIME_MODULES {
            load_quietly(dir, m);
        }
    }
}

/// `modprobe -q NAME` from `dir`; failures are only logged.
pub fn load_quietly(dir: &Path, name: &str) {
    match Modprobe::open(dir).and_then(|m| m.load(name, "")) {
        Ok(r) if !r.inserted.is_empty() => info!("{name}: inserted {}", r.inserted.join(", ")),
        Ok(_) => {}
        Err(e) => debug!("{name}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modaliases_of_a_device_tree() {
        let d = tempfile::tempdir().unwrap();
        let dev = d.path().join("pci0000:00/0000:00:04.0");
        std::fs::create_dir_all(dev.join("virtio1")).unwrap();
        std::fs::write(dev.join("modalias"), "pci:v00001AF4d00001001\n").unwrap();
        std::fs::write(dev.join("virtio1/modalias"), "virtio:d00000002v00001AF4\n").unwrap();
        std::fs::write(dev.join("virtio1/other"), "x").unwrap();
        // a symlink back up the tree is not followed
        std::os::unix::fs::symlink(d.path(), dev.join("virtio1/subsystem")).unwrap();
        let got: Vec<String> = modaliases(d.path()).into_iter().collect();
        assert_eq!(got, ["pci:v00001AF4d00001001", "virtio:d00000002v00001AF4"]);
        assert_eq!(coldplug(d.path()), 0, "no modules.dep: nothing loaded");
    }
}
