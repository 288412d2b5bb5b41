//! The kernel filesystems PID 1 mounts before anything else (spec §1.1):
//! `/proc`, `/sys`, `/dev` (devtmpfs), `/dev/pts`, `/run`, `/tmp` and the
//! cgroup2 hierarchy. What is already mounted (a kernel that mounts
//! devtmpfs itself, a second start in a test) is left as it is.

use std::path::Path;

use rustix::mount::MountFlags;

/// One early mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EarlyMount {
    pub source: &'static str,
    pub target: &'static str,
    pub fstype: &'static str,
    pub flags: MountFlags,
    pub data: &'static str,
}

const NOSUID_NODEV_NOEXEC: MountFlags = MountFlags::NOSUID
    .union(MountFlags::NODEV)
    .union(MountFlags::NOEXEC);

/// The early mounts, in order.
pub const EARLY: &[EarlyMount] = &[
    EarlyMount {
        source: "proc",
        target: "/proc",
        fstype: "proc",
        flags: NOSUID_NODEV_NOEXEC,
        data: "",
    },
    EarlyMount {
        source: "sysfs",
        target: "/sys",
        fstype: "sysfs",
        flags: NOSUID_NODEV_NOEXEC,
        data: "",
    },
    EarlyMount {
        source: "devtmpfs",
        target: "/dev",
        fstype: "devtmpfs",
        flags: MountFlags::NOSUID,
        data: "mode=0755",
    },
    EarlyMount {
        source: "devpts",
        target: "/dev/pts",
        fstype: "devpts",
        flags: MountFlags::NOSUID.union(MountFlags::NOEXEC),
        data: "mode=0620,ptmxmode=0666",
    },
    EarlyMount {
        source: "tmpfs",
        target: "/run",
        fstype: "tmpfs",
        flags: MountFlags::NOSUID.union(MountFlags::NODEV),
        data: "mode=0755",
    },
    EarlyMount {
        source: "tmpfs",
        target: "/tmp",
        fstype: "tmpfs",
        flags: MountFlags::NOSUID.union(MountFlags::NODEV),
        data: "mode=1777",
    },
    EarlyMount {
        source: "cgroup2",
        target: "/sys/fs/cgroup",
        fstype: "cgroup2",
        flags: NOSUID_NODEV_NOEXEC,
        data: "",
    },
];

/// Where the initramfs is bound to leave the rootfs (see [`leave_rootfs`]).
const ROOT_BIND: &str = "/.pv-root";

/// Make `/` a mount with a parent, as `switch_root` would: the initramfs
/// (rootfs) bound onto a directory of itself, moved over `/`, and chrooted
/// into. Containers' `pivot_root` refuses a root that is the rootfs
/// (EINVAL); a bind of it is accepted. Only for the real PID 1, first thing.
pub fn leave_rootfs() -> Result<(), String> {
    let dir = Path::new(ROOT_BIND);
    std::fs::create_dir_all(dir).map_err(|e| format!("create directory {ROOT_BIND}: {e}"))?;
    rustix::mount::mount_bind("/", dir).map_err(|e| format!("bind / on {ROOT_BIND}: {e}"))?;
    std::env::set_current_dir(dir).map_err(|e| format!("chdir {ROOT_BIND}: {e}"))?;
    rustix::mount::mount_move(".", "/").map_err(|e| format!("move {ROOT_BIND} to /: {e}"))?;
    rustix::process::chroot(".").map_err(|e| format!("chroot {ROOT_BIND}: {e}"))?;
    std::env::set_current_dir("/").map_err(|e| format!("chdir /: {e}"))?;
    let _ = std::fs::remove_dir(dir);
    Ok(())
}

/// The mount points of `/proc/self/mountinfo` (empty without `/proc`).
pub fn mount_points() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|s| parse_mount_points(&s))
        .unwrap_or_default()
}

/// The mount points (5th field, octal escapes decoded) of a mountinfo text.
pub fn parse_mount_points(mountinfo: &str) -> Vec<String> {
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape)
        .collect()
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mount what is missing of [`EARLY`]; returns the failures as messages
/// (PID 1 goes on: a missing cgroup2 or devpts is not a reason to stop).
pub fn early() -> Vec<String> {
    let mut errors = vec![];
    let mut mounted_pts = false;
    for m in EARLY {
        let mounted = mount_points();
        if mounted.iter().any(|p| p == m.target) {
            continue;
        }
        let target = Path::new(m.target);
        if let Err(e) = std::fs::create_dir_all(target) {
            errors.push(format!("create directory {}: {e}", m.target));
            continue;
        }
        let data = std::ffi::CString::new(m.data).expect("no NUL in mount data");
        if let Err(e) = rustix::mount::mount(m.source, m.target, m.fstype, m.flags, data.as_c_str())
        {
            errors.push(format!("mount {} on {}: {e}", m.fstype, m.target));
        } else if m.fstype == "devpts" {
            mounted_pts = true;
        }
    }
    // /dev/ptmx of devtmpfs serves the initial devpts instance; the one
    // mounted above is reached through its own ptmx
    let ptmx = Path::new("/dev/ptmx");
    if mounted_pts && Path::new("/dev/pts/ptmx").exists() {
        let _ = std::fs::remove_file(ptmx);
        if let Err(e) = std::os::unix::fs::symlink("pts/ptmx", ptmx) {
            errors.push(format!("symlink /dev/ptmx: {e}"));
        }
    }
    errors
}

/// Files of the host that containers' configs bind (pvr writes
/// `lxc.mount.entry = /etc/resolv.conf …` without `optional`): created empty
/// when the initramfs lacks them, for a platform container to fill.
pub const HOST_FILES: &[&str] = &["/etc/resolv.conf"];

/// Create the missing [`HOST_FILES`]; returns the failures as messages.
pub fn host_files() -> Vec<String> {
    let mut errors = vec![];
    for f in HOST_FILES {
        let p = Path::new(f);
        if p.symlink_metadata().is_ok() {
            continue;
        }
        let made = p
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(p, b""));
        if let Err(e) = made {
            errors.push(format!("create {f}: {e}"));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_of_mountinfo() {
        let mi = "22 1 0:21 / /proc rw,nosuid - proc proc rw\n\
                  30 22 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n\
                  41 30 7:0 / /media/my\\040disk rw - ext4 /dev/loop0 rw\n";
        assert_eq!(
            parse_mount_points(mi),
            ["/proc", "/sys/fs/cgroup", "/media/my disk"]
        );
    }

    #[test]
    fn early_mounts_come_before_what_is_mounted_under_them() {
        for (i, m) in EARLY.iter().enumerate() {
            for later in &EARLY[i + 1..] {
                assert!(
                    !Path::new(m.target).starts_with(later.target),
                    "{} must come after {}",
                    m.target,
                    later.target
                );
            }
        }
    }
}
