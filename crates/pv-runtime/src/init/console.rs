//! The console of PID 1: where it says why it cannot go on.

use std::io::Write;
use std::path::Path;

/// Print `pantavisor: <msg>` on the console (PID 1's stderr, which
/// [`reopen`] makes `/dev/console`).
pub fn say(msg: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "pantavisor: {msg}");
    let _ = err.flush();
}

/// Give stdin, stdout and stderr to `/dev/console` when the kernel could
/// not (an initramfs without a `/dev/console` node: the kernel's "unable to
/// open an initial console"). Open descriptors are left alone.
pub fn reopen() {
    let missing = (0..3).any(|fd| !Path::new(&format!("/proc/self/fd/{fd}")).exists());
    if !missing {
        return;
    }
    let Ok(f) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/console")
    else {
        return;
    };
    let _ = rustix::stdio::dup2_stdin(&f);
    let _ = rustix::stdio::dup2_stdout(&f);
    let _ = rustix::stdio::dup2_stderr(&f);
}
