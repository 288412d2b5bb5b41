//! The end of PID 1 (spec §2.6): once the main loop has stopped the
//! containers and the log server, stop what is left, sync, unmount (the
//! storage last: its volumes and the BSP mounts come off first), and call
//! `reboot(2)`.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rustix::mount::{MountFlags, UnmountFlags};
use rustix::system::RebootCommand;

use super::console;
use super::reaper::End;

/// Mount points that stay until the end (the kernel's own filesystems).
const KEEP: &[&str] = &["/", "/proc", "/sys", "/dev"];

/// What to unmount, in order: every mount point of `points` (mountinfo
/// order) except [`KEEP`] and what lives under `/proc`, `/sys`, `/dev`,
/// children before parents, `storage` after everything under it.
pub fn unmount_order(points: &[String]) -> Vec<String> {
    let mut out: Vec<String> = points
        .iter()
        .filter(|p| {
            !KEEP.contains(&p.as_str())
                && !["/proc/", "/sys/", "/dev/"]
                    .iter()
                    .any(|k| p.starts_with(k))
        })
        .cloned()
        .collect();
    out.reverse();
    // stable: a mount below another always comes first
    out.sort_by_key(|p| std::cmp::Reverse(Path::new(p).components().count()));
    out.dedup();
    out
}

/// Send `sig` to every process but PID 1.
fn signal_all(sig: Signal) {
    let _ = kill(Pid::from_raw(-1), sig);
}

/// Reap what ends within `grace`; true when no child is left.
fn reap_for(grace: Duration) -> bool {
    let until = Instant::now() + grace;
    loop {
        match rustix::process::wait(rustix::process::WaitOptions::NOHANG) {
            Ok(Some(_)) => continue,
            Ok(None) => {}
            Err(_) => return true, // ECHILD: nobody left
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stop everything and reboot or power off. Returns only if `reboot(2)`
/// failed.
pub fn finish(end: &End, storage: &Path) {
    let cmd = match end {
        End::Poweroff => {
            console::say("powering off");
            RebootCommand::PowerOff
        }
        End::Reboot => {
            console::say("rebooting");
            RebootCommand::Restart
        }
        End::Died(why) => {
            console::say(&format!("{why}: rebooting in 5 s"));
            std::thread::sleep(Duration::from_secs(5));
            RebootCommand::Restart
        }
    };
    signal_all(Signal::SIGTERM);
    if !reap_for(Duration::from_secs(2)) {
        signal_all(Signal::SIGKILL);
        reap_for(Duration::from_secs(2));
    }
    rustix::fs::sync();
    for p in unmount_order(&super::mounts::mount_points()) {
        if rustix::mount::unmount(p.as_str(), UnmountFlags::empty()).is_err()
            && Path::new(&p) == storage
        {
            // still busy: at least nothing more is written to it
            let _ = rustix::mount::mount_remount(p.as_str(), MountFlags::RDONLY, "");
            console::say(&format!("storage {p} busy: remounted read-only"));
        }
    }
    rustix::fs::sync();
    if let Err(e) = rustix::system::reboot(cmd) {
        console::say(&format!("reboot: {e}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_after_what_is_mounted_under_it() {
        let pts: Vec<String> = [
            "/",
            "/proc",
            "/sys",
            "/dev",
            "/dev/pts",
            "/run",
            "/sys/fs/cgroup",
            "/storage",
            "/lib/modules/6.1.0",
            "/pv.internal/volumes/app/root",
            "/storage/disks/x",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let order = unmount_order(&pts);
        let pos = |p: &str| order.iter().position(|x| x == p).unwrap();
        assert!(pos("/storage/disks/x") < pos("/storage"));
        assert!(!order
            .iter()
            .any(|p| p == "/" || p == "/proc" || p == "/dev/pts"));
        assert!(!order.iter().any(|p| p.starts_with("/sys")));
        assert!(order.contains(&"/run".to_string()));
    }
}
