//! PID 1 reaps every process that ends up with it (orphans of every
//! container and daemon) while the main loop runs. Containers' exit
//! statuses are not taken: their supervisors are the main loop's children,
//! and orphans only reach PID 1 once nobody waits for them.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use nix::sys::signal::{kill, SigSet, Signal};
use rustix::process::{WaitOptions, WaitStatus};

use crate::daemon::{EXIT_POWEROFF, EXIT_REBOOT};

/// How the main loop ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    Reboot,
    Poweroff,
    /// Crashed, killed or refused to run: why.
    Died(String),
}

/// What an exit status of the main loop asks for.
pub fn end_of(status: WaitStatus) -> End {
    if let Some(code) = status.exit_status() {
        match code {
            EXIT_REBOOT => End::Reboot,
            EXIT_POWEROFF => End::Poweroff,
            c => End::Died(format!("the main loop exited with code {c}")),
        }
    } else if let Some(sig) = status.terminating_signal() {
        End::Died(format!("the main loop was killed by signal {sig}"))
    } else {
        End::Died(format!("the main loop ended ({status:?})"))
    }
}

/// Reap children until `main` (the main loop) ends; returns how it ended.
pub fn supervise(main: i32) -> End {
    let mut orphans = 0u64;
    loop {
        match rustix::process::wait(WaitOptions::empty()) {
            Ok(Some((pid, status))) if pid.as_raw_nonzero().get() == main => {
                if orphans > 0 {
                    tracing::debug!("reaped {orphans} orphans");
                }
                return end_of(status);
            }
            Ok(_) => orphans += 1,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return End::Died(format!("wait: {e}")),
        }
    }
}

/// What a signal to PID 1 asks the main loop for, as the signal the main
/// loop understands (SIGTERM reboot, SIGINT power off): SIGTERM (busybox
/// `reboot`) and SIGINT (Ctrl-Alt-Del, once [`forward_signals`] turned the
/// kernel's immediate reboot off) reboot; SIGUSR2 (busybox `poweroff`) and
/// SIGPWR power off.
pub fn forwarded(sig: Signal) -> Option<Signal> {
    match sig {
        Signal::SIGTERM | Signal::SIGINT => Some(Signal::SIGTERM),
        Signal::SIGUSR2 | Signal::SIGPWR => Some(Signal::SIGINT),
        _ => None,
    }
}

/// The signals [`forward_signals`] takes over.
fn stop_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGUSR2,
        Signal::SIGPWR,
    ] {
        set.add(s);
    }
    set
}

/// Unblock the stop signals in this thread: the main loop must see
/// SIGTERM/SIGINT even if it inherited PID 1's mask.
pub fn unblock_stop_signals() {
    let _ = stop_signals().thread_unblock();
}

/// Hand reboot and power-off requests sent to PID 1 to the main loop
/// (`main` holds its PID, 0 while there is none), from a thread that
/// waits for them; they are blocked everywhere else in PID 1 (children
/// start with an empty mask).
pub fn forward_signals(main: Arc<AtomicI32>) {
    let set = stop_signals();
    if let Err(e) = set.thread_block() {
        super::console::say(&format!("cannot block signals: {e}"));
        return;
    }
    if std::process::id() == 1 {
        // Ctrl-Alt-Del becomes SIGINT to PID 1 instead of an immediate reboot
        let _ = rustix::system::reboot(rustix::system::RebootCommand::CadOff);
    }
    let spawned = std::thread::Builder::new()
        .name("pid1-signals".into())
        .spawn(move || loop {
            let Ok(sig) = set.wait() else { continue };
            let pid = main.load(Ordering::SeqCst);
            match forwarded(sig) {
                Some(to) if pid > 0 => {
                    super::console::say(&format!("{sig} received: asking the main loop to stop"));
                    if let Err(e) = kill(nix::unistd::Pid::from_raw(pid), to) {
                        super::console::say(&format!("signal the main loop ({pid}): {e}"));
                    }
                    std::thread::sleep(std::time::Duration::from_secs(20));
                    if main.load(Ordering::SeqCst) == pid {
                        // still there: show what it is doing
                        let st = std::fs::read_to_string(format!("/proc/{pid}/status"))
                            .unwrap_or_default();
                        let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan"))
                            .unwrap_or_default();
                        let lines: Vec<&str> = st
                            .lines()
                            .filter(|l| {
                                l.starts_with("State")
                                    || l.starts_with("Sig")
                                    || l.starts_with("Threads")
                            })
                            .collect();
                        super::console::say(&format!(
                            "the main loop ({pid}) has not stopped after 20 s: {} wchan {wchan}",
                            lines.join("; ")
                        ));
                    }
                }
                _ => {}
            }
        });
    if let Err(e) = spawned {
        super::console::say(&format!("signal thread: {e}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reboot_and_poweroff_requests() {
        assert_eq!(forwarded(Signal::SIGTERM), Some(Signal::SIGTERM));
        assert_eq!(forwarded(Signal::SIGINT), Some(Signal::SIGTERM));
        assert_eq!(forwarded(Signal::SIGUSR2), Some(Signal::SIGINT));
        assert_eq!(forwarded(Signal::SIGHUP), None);
    }
}
