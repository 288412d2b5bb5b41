//! `pvimage bsp`: the `bsp/` part of a state. A kernel, our initramfs
//! (static `pantavisor` as `/init`, the static `pv-xconnect` and
//! `pv-hub-agent` beside it),
//! `modules.squashfs`,
//! `firmware.squashfs` and `bsp/run.json` with the original's keys plus
//! `cmdline`, so that `pvr add` / `pvr commit` of the checkout makes a
//! complete revision and a new kernel is one more revision.

use std::path::{Path, PathBuf};

use pv_fs::IoResultExt;

use crate::initramfs::{Entry, Initramfs, Source};
use crate::{modules, Error, Result};

/// File names under `bsp/`.
pub const KERNEL_FILE: &str = "kernel.img";
pub const INITRD_FILE: &str = "pantavisor";
pub const MODULES_FILE: &str = "modules.squashfs";
pub const FIRMWARE_FILE: &str = "firmware.squashfs";
/// The initramfs's configuration (the "pv conf" level).
pub const CONFIG_PATH: &str = "etc/pantavisor.config";
/// The service mesh daemon in the initramfs: beside `/init`, where the
/// runtime looks for it.
pub const XCONNECT_PATH: &str = "pv-xconnect";
/// The hub client's agent in the initramfs: beside `/init`, where the
/// runtime looks for it.
pub const HUB_AGENT_PATH: &str = "pv-hub-agent";

/// The kernel command line a revision boots with when none is given:
/// the console on the first serial port, and a reboot 5 s after a panic so
/// that a broken kernel or init falls back to the previous revision.
pub const DEFAULT_CMDLINE: &str = "console=ttyS0,115200 panic=5";

/// The configuration of an embedded device when `--config` is not given:
/// PID 1, storage on the ext4 partition labelled `pvroot` (what
/// `pvimage build` writes), GRUB's environment block, no Hub, no LAN
/// endpoint (the storage modules of the initramfs are coldplugged by PID 1).
pub const DEFAULT_CONFIG: &str = "\
PV_SYSTEM_INIT_MODE=embedded
PV_BOOTLOADER_TYPE=grub
PV_STORAGE_DEVICE=LABEL=pvroot
PV_STORAGE_FSTYPE=ext4
PV_STORAGE_MNTPOINT=/storage
PV_STORAGE_WAIT=30
PV_CONTROL_REMOTE=0
PV_LOG_LEVEL=3
";

/// What `pvimage bsp` is given.
#[derive(Debug, Clone, Default)]
pub struct BspOptions {
    pub kernel: PathBuf,
    /// `/lib/modules/<release>` of that kernel.
    pub modules: Option<PathBuf>,
    pub firmware: Option<PathBuf>,
    pub cmdline: Option<String>,
    /// Becomes `/etc/pantavisor.config` (else [`DEFAULT_CONFIG`]).
    pub config: Option<PathBuf>,
    /// The static `pantavisor` binary, `/init` of the initramfs.
    pub pantavisor: PathBuf,
    /// The static `pv-xconnect` binary, `/pv-xconnect` of the initramfs
    /// (without it the device runs no service mesh).
    pub xconnect: Option<PathBuf>,
    /// The static `pv-hub-agent` binary, `/pv-hub-agent` of the initramfs
    /// (without it the device cannot talk to a hub).
    pub hub_agent: Option<PathBuf>,
    /// Modules for the initramfs (else [`modules::DEFAULT_INITRD_MODULES`],
    /// those present).
    pub initrd_modules: Option<Vec<String>>,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct BspReport {
    pub dir: PathBuf,
    pub files: Vec<(String, u64)>,
    pub initrd_modules: Vec<String>,
}

/// Write `<checkout>/bsp/` from `opts`. Everything is built in a temp
/// directory beside it and renamed into place: a failure leaves the
/// checkout as it was.
pub fn build_bsp(opts: &BspOptions, checkout: &Path) -> Result<BspReport> {
    if !opts.kernel.is_file() {
        return Err(Error::input(&opts.kernel, "kernel image not found"));
    }
    check_static(&opts.pantavisor)?;
    for x in opts.xconnect.iter().chain(&opts.hub_agent) {
        check_static(x)?;
    }
    if let Some(m) = &opts.modules {
        if !m.join("modules.dep").is_file() {
            return Err(Error::input(
                m,
                "not a /lib/modules/<release> directory (no modules.dep; run depmod)",
            ));
        }
    }
    if let Some(f) = opts.firmware.as_ref().filter(|f| !f.is_dir()) {
        return Err(Error::input(f, "firmware directory not found"));
    }
    let config = match &opts.config {
        Some(p) => std::fs::read(p).at("read", p)?,
        None => DEFAULT_CONFIG.as_bytes().to_vec(),
    };
    let cmdline = opts
        .cmdline
        .clone()
        .unwrap_or_else(|| DEFAULT_CMDLINE.into());
    if cmdline.contains('\n') {
        return Err(Error::input(
            "--cmdline",
            "a kernel command line is one line",
        ));
    }

    std::fs::create_dir_all(checkout).at("create directory", checkout)?;
    let tmp = tempfile::Builder::new()
        .prefix(".bsp.pvimage-")
        .tempdir_in(checkout)
        .at("create temp directory in", checkout)?;
    let t = tmp.path();
    std::fs::copy(&opts.kernel, t.join(KERNEL_FILE)).at("copy", &opts.kernel)?;

    let mut tree = Initramfs::base();
    tree.add(
        "init",
        Entry::File {
            data: Source::Host(opts.pantavisor.clone()),
            mode: 0o755,
        },
    );
    for (path, bin) in [
        (XCONNECT_PATH, &opts.xconnect),
        (HUB_AGENT_PATH, &opts.hub_agent),
    ] {
        if let Some(x) = bin {
            tree.add(
                path,
                Entry::File {
                    data: Source::Host(x.clone()),
                    mode: 0o755,
                },
            );
        }
    }
    tree.add(
        CONFIG_PATH,
        Entry::File {
            data: Source::Bytes(config),
            mode: 0o644,
        },
    );
    let mut initrd_modules = vec![];
    if let Some(m) = &opts.modules {
        let (wanted, explicit) = match &opts.initrd_modules {
            Some(w) => (w.clone(), true),
            None => (
                modules::DEFAULT_INITRD_MODULES
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                false,
            ),
        };
        initrd_modules = modules::add_to_initramfs(&mut tree, m, &wanted, explicit)?;
        pv_app::squashfs::build(m, &t.join(MODULES_FILE), Some("-comp xz"), None)?;
    }
    let initrd = t.join(INITRD_FILE);
    let f = std::fs::File::create(&initrd).at("create", &initrd)?;
    tree.write_gz(std::io::BufWriter::new(f))?;
    if let Some(fw) = &opts.firmware {
        pv_app::squashfs::build(fw, &t.join(FIRMWARE_FILE), Some("-comp xz"), None)?;
    }

    let mut run = serde_json::Map::new();
    run.insert("addons".into(), serde_json::json!([]));
    if opts.firmware.is_some() {
        run.insert("firmware".into(), FIRMWARE_FILE.into());
    }
    run.insert("initrd".into(), INITRD_FILE.into());
    run.insert("linux".into(), KERNEL_FILE.into());
    if opts.modules.is_some() {
        run.insert("modules".into(), MODULES_FILE.into());
    }
    run.insert("cmdline".into(), cmdline.into());
    let text = pv_json::to_canonical(&serde_json::Value::Object(run));
    let run_path = t.join("run.json");
    std::fs::write(&run_path, &text).at("write", &run_path)?;

    let mut files = vec![];
    for e in std::fs::read_dir(t).at("read directory", t)?.flatten() {
        let len = e.metadata().map(|m| m.len()).unwrap_or(0);
        files.push((e.file_name().to_string_lossy().into_owned(), len));
    }
    files.sort();
    let dest = checkout.join("bsp");
    if dest.exists() {
        let old = checkout.join(".bsp.pvimage-old");
        let _ = std::fs::remove_dir_all(&old);
        pv_fs::rename_durable(&dest, &old)?;
        pv_fs::rename_durable(&tmp.keep(), &dest)?;
        std::fs::remove_dir_all(&old).at("remove", &old)?;
    } else {
        pv_fs::rename_durable(&tmp.keep(), &dest)?;
    }
    Ok(BspReport {
        dir: dest,
        files,
        initrd_modules,
    })
}

/// PID 1 runs before any library is reachable: refuse an ELF with an
/// interpreter (`PT_INTERP`), or something that is not a 64-bit ELF.
pub fn check_static(path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).at("read", path)?;
    let bad = |what: &str| Error::input(path, what.to_string());
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
        return Err(bad("not a little-endian 64-bit ELF executable"));
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    for i in 0..phnum {
        let o = phoff + i * phentsize;
        let Some(h) = bytes.get(o..o + 4) else {
            return Err(bad("truncated program headers"));
        };
        if u32::from_le_bytes(h.try_into().unwrap()) == 3 {
            return Err(bad(
                "is dynamically linked (it names an interpreter); PID 1 needs a static build",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_binaries_are_refused() {
        let e = check_static(Path::new("/bin/sh")).unwrap_err();
        assert!(e.to_string().contains("dynamically linked"), "{e}");
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x");
        std::fs::write(&p, b"#!/bin/sh\n").unwrap();
        assert!(check_static(&p).unwrap_err().to_string().contains("not a"));
    }
}
