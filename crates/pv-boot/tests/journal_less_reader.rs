//! A bootloader reads the storage without replaying its journal. Once
//! `install` names a try, the trail written before it (published by a
//! rename, as pv-runtime does) must be readable that way, or a power cut
//! makes the bootloader fall back from a try that was never attempted.
//! An ext4 image on a loop mount, read behind the kernel's back with
//! `debugfs -c` (the journal is not read), stands for GRUB after the cut.
//! Needs root, mkfs.ext4 and debugfs (pv_testkit decides).

use std::path::{Path, PathBuf};
use std::process::Command;

use pv_boot::{BootEnv, EnvVars, GrubEnv};

fn run(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Unmounts on drop, so that a failed assertion leaves no mount behind.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// `cat` of a file of the image, as a reader that ignores the journal sees it.
fn read_without_journal(image: &Path, file: &str) -> String {
    run(
        "debugfs",
        &["-c", "-R", &format!("cat {file}"), image.to_str().unwrap()],
    )
}

#[test]
fn a_tried_trail_is_readable_without_journal_replay() {
    if !pv_testkit::require_root()
        || !pv_testkit::require_tool("mkfs.ext4")
        || !pv_testkit::require_tool("debugfs")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("storage.img");
    let mnt = dir.path().join("storage");
    std::fs::create_dir(&mnt).unwrap();
    let img = image.to_str().unwrap();
    run("mkfs.ext4", &["-q", "-F", "-L", "pvtest", img, "64M"]);
    run("mount", &["-o", "loop", img, mnt.to_str().unwrap()]);
    let _mounted = Mounted(mnt.clone());

    // the factory env, long on disk
    let env = GrubEnv::new(mnt.join("boot/grubenv"));
    env.write(&EnvVars::from_pairs([("pv_rev", "0")])).unwrap();
    pv_fs::syncfs(&mnt).unwrap();
    assert!(read_without_journal(&image, "/boot/grubenv").contains("pv_rev=0\n"));

    // a trail built under a temp name, then published by a durable rename
    let building = mnt.join("trails/.1.pvtmp-install");
    std::fs::create_dir_all(building.join(".pv")).unwrap();
    pv_fs::write_atomic(building.join(".pv/pv-cmdline"), b"pv_cmdline=quiet\n").unwrap();
    pv_fs::syncfs(&mnt).unwrap();
    pv_fs::rename_durable(&building, &mnt.join("trails/1")).unwrap();

    env.install("1").unwrap();
    assert!(read_without_journal(&image, "/boot/grubenv").contains("pv_try=1\n"));
    assert_eq!(
        read_without_journal(&image, "/trails/1/.pv/pv-cmdline"),
        "pv_cmdline=quiet\n",
        "the tried trail must be where a bootloader looks, without the journal"
    );
}
