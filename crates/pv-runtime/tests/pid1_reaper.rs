//! PID 1's reaper with real processes: the main loop's end decides reboot
//! or power off, orphans are reaped on the way. One test in its own
//! process: waiting for any child would take other tests' children.

use std::process::Command;

use pv_runtime::init::reaper::{supervise, End};

#[test]
fn orphans_are_reaped_and_the_main_loop_decides() {
    // orphans come to this process as they would to PID 1
    rustix::process::set_child_subreaper(Some(rustix::process::getpid())).unwrap();
    // reaped by `supervise` (a wait for any child), as PID 1 does
    #[allow(clippy::zombie_processes)]
    let run = |script: &str| {
        let child = Command::new("sh").args(["-c", script]).spawn().unwrap();
        supervise(child.id() as i32)
    };
    assert_eq!(run("exit 0"), End::Reboot);
    assert_eq!(run("exit 3"), End::Poweroff);
    assert_eq!(
        run("exit 1"),
        End::Died("the main loop exited with code 1".into())
    );
    assert!(matches!(run("kill -9 $$"), End::Died(m) if m.contains("signal")));
    // an orphan that ends before the main loop: reaped, not taken for it
    assert_eq!(
        run("(sh -c 'sleep 0.1; exit 5' &); sleep 0.6; exit 3"),
        End::Poweroff
    );
    // nothing is left to reap
    assert_eq!(
        rustix::process::wait(rustix::process::WaitOptions::NOHANG).unwrap_err(),
        rustix::io::Errno::CHILD
    );
}
