//! The kernel modules our initramfs carries: what reaching the storage and
//! mounting the BSP's squashfs volumes needs (block drivers, the storage
//! filesystem, loop, squashfs), with their dependencies from `modules.dep`
//! and the index files cut down to them.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use pv_fs::IoResultExt;

use crate::initramfs::{Entry, Initramfs, Source};
use crate::{Error, Result};

/// Taken when present in the kernel's modules (built-in or absent ones
/// are skipped): virtio, SCSI/SATA, NVMe and MMC disks, ext4 and the crc32c
/// it checksums with, loop, squashfs and overlay for the revision's
/// volumes and containers, and virtio's network card.
pub const DEFAULT_INITRD_MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_blk",
    "virtio_scsi",
    "sd_mod",
    "ahci",
    "nvme",
    "mmc_block",
    "sdhci_pci",
    "ext4",
    "crc32c_generic",
    "loop",
    "squashfs",
    "overlay",
    "virtio_net",
];

/// The name of a module file: `kernel/fs/ext4/ext4.ko.xz` → `ext4`, with
/// `-` spelled `_` as the kernel does.
pub fn module_name(file: &str) -> String {
    let base = file.rsplit('/').next().unwrap_or(file);
    let stem = base.split(".ko").next().unwrap_or(base);
    stem.replace('-', "_")
}

/// Add to `tree` the modules `wanted` (with `explicit`, a name that is
/// neither a module nor built in is an error) and their dependencies, under
/// `lib/modules/<release>/`, with `modules.dep`, `modules.alias`,
/// `modules.softdep`, `modules.order` filtered to them and
/// `modules.builtin[.modinfo]` as they are. Returns the names added.
pub fn add_to_initramfs(
    tree: &mut Initramfs,
    moddir: &Path,
    wanted: &[String],
    explicit: bool,
) -> Result<Vec<String>> {
    let release = moddir
        .file_name()
        .ok_or_else(|| Error::input(moddir, "not a /lib/modules/<release> directory"))?
        .to_string_lossy()
        .into_owned();
    let dep_path = moddir.join("modules.dep");
    let dep_text = std::fs::read_to_string(&dep_path).at("read", &dep_path)?;
    let builtin = std::fs::read_to_string(moddir.join("modules.builtin")).unwrap_or_default();
    let builtin: BTreeSet<String> = builtin.lines().map(module_name).collect();
    // name -> (file, deps)
    let mut deps: HashMap<String, (String, Vec<String>)> = HashMap::new();
    for line in dep_text.lines() {
        let Some((file, rest)) = line.split_once(':') else {
            continue;
        };
        let d = rest.split_whitespace().map(String::from).collect();
        deps.insert(module_name(file), (file.to_string(), d));
    }
    let mut files = BTreeSet::new();
    for w in wanted {
        let name = w.replace('-', "_");
        match deps.get(&name) {
            Some((file, d)) => {
                files.insert(file.clone());
                files.extend(d.iter().cloned());
            }
            None if builtin.contains(&name) || !explicit => {}
            None => {
                return Err(Error::input(
                    moddir,
                    format!("module {w} is neither in modules.dep nor built in"),
                ))
            }
        }
    }
    let dest = format!("lib/modules/{release}");
    for f in &files {
        pv_fs::validate_rel_path(f)?;
        let src = moddir.join(f);
        if !src.is_file() {
            return Err(Error::input(src, "listed in modules.dep but missing"));
        }
        tree.add(
            &format!("{dest}/{f}"),
            Entry::File {
                data: Source::Host(src),
                mode: 0o644,
            },
        );
    }
    let names: BTreeSet<String> = files.iter().map(|f| module_name(f)).collect();
    let keep_dep: String = dep_text
        .lines()
        .filter(|l| l.split_once(':').is_some_and(|(f, _)| files.contains(f)))
        .map(|l| format!("{l}\n"))
        .collect();
    tree.add(&format!("{dest}/modules.dep"), bytes(keep_dep));
    let filter = |file: &str, keep: &dyn Fn(&str) -> bool| -> Option<Entry> {
        let text = std::fs::read_to_string(moddir.join(file)).ok()?;
        Some(bytes(
            text.lines()
                .filter(|l| keep(l))
                .map(|l| format!("{l}\n"))
                .collect(),
        ))
    };
    // `alias <pattern> <module>`
    if let Some(e) = filter("modules.alias", &|l: &str| {
        l.split_whitespace()
            .nth(2)
            .is_some_and(|m| names.contains(&m.replace('-', "_")))
    }) {
        tree.add(&format!("{dest}/modules.alias"), e);
    }
    if let Some(e) = filter("modules.order", &|l: &str| files.contains(l)) {
        tree.add(&format!("{dest}/modules.order"), e);
    }
    for f in [
        "modules.softdep",
        "modules.builtin",
        "modules.builtin.modinfo",
    ] {
        let p = moddir.join(f);
        if p.is_file() {
            tree.add(
                &format!("{dest}/{f}"),
                Entry::File {
                    data: Source::Host(p),
                    mode: 0o644,
                },
            );
        }
    }
    Ok(names.into_iter().collect())
}

fn bytes(s: String) -> Entry {
    Entry::File {
        data: Source::Bytes(s.into_bytes()),
        mode: 0o644,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let m = d.path().join("6.1.0-test");
        for f in [
            "kernel/fs/ext4/ext4.ko",
            "kernel/fs/jbd2/jbd2.ko.xz",
            "kernel/lib/crc16.ko",
            "kernel/net/x.ko",
        ] {
            let p = m.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, f).unwrap();
        }
        std::fs::write(
            m.join("modules.dep"),
            "kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/jbd2/jbd2.ko.xz\nkernel/fs/jbd2/jbd2.ko.xz:\nkernel/lib/crc16.ko:\nkernel/net/x.ko:\n",
        )
        .unwrap();
        std::fs::write(
            m.join("modules.alias"),
            "alias fs-ext4 ext4\nalias net-x x\n",
        )
        .unwrap();
        std::fs::write(
            m.join("modules.builtin"),
            "kernel/drivers/block/virtio_blk.ko\n",
        )
        .unwrap();
        d
    }

    #[test]
    fn closure_and_filtered_indexes() {
        let d = fake_tree();
        let m = d.path().join("6.1.0-test");
        let mut t = Initramfs::default();
        let names =
            add_to_initramfs(&mut t, &m, &["ext4".into(), "virtio-blk".into()], true).unwrap();
        assert_eq!(names, ["crc16", "ext4", "jbd2"]);
        let paths: Vec<_> = t.paths().collect();
        assert!(paths.contains(&"lib/modules/6.1.0-test/kernel/fs/jbd2/jbd2.ko.xz"));
        assert!(!paths.iter().any(|p| p.ends_with("x.ko")));
        let mut buf = vec![];
        t.write_cpio(&mut buf).unwrap();
        let text = String::from_utf8_lossy(&buf);
        assert!(text.contains("alias fs-ext4 ext4\n"));
        assert!(!text.contains("net-x"));
    }

    #[test]
    fn unknown_explicit_module_is_refused() {
        let d = fake_tree();
        let m = d.path().join("6.1.0-test");
        let mut t = Initramfs::default();
        let e = add_to_initramfs(&mut t, &m, &["nope".into()], true).unwrap_err();
        assert!(e.to_string().contains("module nope"), "{e}");
        assert!(add_to_initramfs(&mut t, &m, &["nope".into()], false).is_ok());
    }
}
