//! Starting a process in new namespaces straight from the runtime, with no
//! supervisor process in between.
//!
//! `clone(2)` with the namespace flags (a new PID namespace can only be
//! entered by a new process, so `Command` cannot do it) makes a child that
//! waits on a pipe before it executes anything: the caller places it
//! (cgroups, pid file) while it is held, then [`Held::release`]s it, or
//! [`Held::abandon`]s it (the child exits without executing). A failed
//! `execve` comes back through a close-on-exec pipe as the error of
//! `release`, as `std::process::Command::spawn` does it.
//!
//! Between `clone` and `execve` the child is a copy of a multi-threaded
//! process: it only makes async-signal-safe system calls on values the
//! parent prepared (no allocation, no lock).

// `clone` and what runs before `execve` have no safe wrapper that keeps
// to async-signal-safe calls (nix's `execve` allocates).
#![allow(unsafe_code)]

use std::ffi::{CString, OsStr};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::sched::CloneFlags;

/// Exit code of a child that was abandoned before it executed anything.
pub const ABANDONED: i32 = 126;
/// Exit code of a child whose `execve` failed.
pub const EXEC_FAILED: i32 = 127;

/// A cloned child held before `execve`.
#[derive(Debug)]
pub struct Held {
    pid: i32,
    /// Writing a byte lets the child go on; closing it unwritten makes the
    /// child exit with [`ABANDONED`].
    release: OwnedFd,
    /// The child's errno if `execve` failed; EOF once it succeeded.
    exec_error: OwnedFd,
}

/// What the child's file descriptors 0, 1 and 2 become.
#[derive(Debug)]
pub struct Stdio {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// Everything the child uses, prepared before `clone` (raw values only).
struct ChildPlan {
    exe: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    stdio: [RawFd; 3],
    release_r: RawFd,
    release_w: RawFd,
    error_r: RawFd,
    error_w: RawFd,
    /// Kept open across `execve` (-1: none).
    keep: RawFd,
    empty_mask: libc::sigset_t,
}

/// Start `exe` with `args` (after `argv[0]` = `exe`) in the new namespaces
/// `flags`, in its own process group, with the caller's environment minus
/// `env_remove`, held before `execve`. `keep` (numbered 3 or more, see
/// [`above_stdio`]) is the one descriptor besides 0, 1 and 2 that the new
/// program inherits.
pub fn spawn_held(
    exe: &Path,
    args: &[&OsStr],
    env_remove: &[&str],
    flags: CloneFlags,
    stdio: Stdio,
    keep: Option<&OwnedFd>,
) -> io::Result<Held> {
    if keep.is_some_and(|k| k.as_raw_fd() <= 2) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a kept descriptor must be numbered 3 or more",
        ));
    }
    let exe_c = cstring(exe.as_os_str().as_bytes())?;
    let mut argv_c = vec![exe_c.clone()];
    for a in args {
        argv_c.push(cstring(a.as_bytes())?);
    }
    let mut envp_c = vec![];
    for (k, v) in std::env::vars_os() {
        if env_remove.iter().any(|r| k.as_bytes() == r.as_bytes()) {
            continue;
        }
        let mut kv = k.as_bytes().to_vec();
        kv.push(b'=');
        kv.extend_from_slice(v.as_bytes());
        // a variable with a NUL byte cannot be passed on: drop it
        if let Ok(c) = CString::new(kv) {
            envp_c.push(c);
        }
    }
    let argv = nul_terminated(&argv_c);
    let envp = nul_terminated(&envp_c);
    // the child moves descriptors onto 0, 1 and 2: none of those it still
    // needs afterwards may be one of them
    let stdio = [
        above_stdio(stdio.stdin)?,
        above_stdio(stdio.stdout)?,
        above_stdio(stdio.stderr)?,
    ];
    let (release_r, release_w) = pipe()?;
    let (error_r, error_w) = pipe()?;
    let error_w = above_stdio(error_w)?;
    let mut plan = ChildPlan {
        exe: exe_c.as_ptr(),
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        stdio: [
            stdio[0].as_raw_fd(),
            stdio[1].as_raw_fd(),
            stdio[2].as_raw_fd(),
        ],
        release_r: release_r.as_raw_fd(),
        release_w: release_w.as_raw_fd(),
        error_r: error_r.as_raw_fd(),
        error_w: error_w.as_raw_fd(),
        keep: keep.map_or(-1, |k| k.as_raw_fd()),
        empty_mask: *nix::sys::signal::SigSet::empty().as_ref(),
    };
    let plan_ptr: *mut ChildPlan = &mut plan;
    let mut stack = vec![0u8; 64 * 1024];
    // SAFETY: without CLONE_VM the child gets a copy of this address space
    // (the stack above included); it runs `child`, which only makes
    // async-signal-safe calls on the plan and never returns.
    let pid = unsafe {
        nix::sched::clone(
            Box::new(move || child(&*plan_ptr)),
            &mut stack,
            flags,
            Some(libc::SIGCHLD),
        )
    }
    .map_err(io::Error::from)?;
    // the parent's copies of the child's ends
    drop((stdio, release_r, error_w));
    Ok(Held {
        pid: pid.as_raw(),
        release: release_w,
        exec_error: error_r,
    })
}

impl Held {
    /// Host PID of the child.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Let the child execute. If `execve` failed, the child is reaped and
    /// its error returned.
    pub fn release(self) -> io::Result<()> {
        let Held {
            pid,
            release,
            exec_error,
        } = self;
        let mut w = std::fs::File::from(release);
        w.write_all(&[1])?;
        drop(w);
        let mut buf = [0u8; 4];
        let mut r = std::fs::File::from(exec_error);
        let mut got = 0;
        while got < buf.len() {
            match r.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if got == 0 {
            return Ok(());
        }
        reap(pid);
        Err(io::Error::from_raw_os_error(i32::from_ne_bytes(buf)))
    }

    /// Make the child exit without executing anything, and reap it.
    pub fn abandon(self) {
        let pid = self.pid;
        drop(self);
        reap(pid);
    }
}

fn reap(pid: i32) {
    // SAFETY: waiting for our own child
    unsafe {
        while libc::waitpid(pid, std::ptr::null_mut(), 0) < 0
            && nix::errno::Errno::last() == nix::errno::Errno::EINTR
        {}
    }
}

/// The child between `clone` and `execve`.
fn child(p: &ChildPlan) -> isize {
    // SAFETY: plain system calls on descriptors and pointers prepared by
    // the parent (copied with the address space); nothing allocates.
    unsafe {
        // its own process group: a Ctrl-C meant for the runtime must not
        // reach containers before the runtime stops them in order
        libc::setpgid(0, 0);
        libc::close(p.release_w);
        libc::close(p.error_r);
        let mut b = 0u8;
        loop {
            match libc::read(p.release_r, (&raw mut b).cast(), 1) {
                1 => break,
                n if n < 0 && nix::errno::Errno::last() == nix::errno::Errno::EINTR => {}
                _ => libc::_exit(ABANDONED),
            }
        }
        for (fd, target) in p.stdio.iter().zip(0..) {
            if libc::dup2(*fd, target) < 0 {
                exec_failed(p.error_w);
            }
        }
        if p.keep >= 0 && libc::fcntl(p.keep, libc::F_SETFD, 0) < 0 {
            exec_failed(p.error_w);
        }
        // a clean signal state for the new program: the runtime's mask and
        // its ignored SIGPIPE are not the container's
        libc::sigprocmask(libc::SIG_SETMASK, &p.empty_mask, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::execve(p.exe, p.argv, p.envp);
        exec_failed(p.error_w)
    }
}

/// Report errno to the parent and exit.
unsafe fn exec_failed(error_w: RawFd) -> ! {
    let e = nix::errno::Errno::last_raw().to_ne_bytes();
    // SAFETY: a write of a local buffer, then _exit
    unsafe {
        libc::write(error_w, e.as_ptr().cast(), e.len());
        libc::_exit(EXEC_FAILED)
    }
}

fn cstring(b: &[u8]) -> io::Result<CString> {
    CString::new(b).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in argument"))
}

fn nul_terminated(v: &[CString]) -> Vec<*const libc::c_char> {
    v.iter()
        .map(|c| c.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = std::io::pipe()?;
    Ok((OwnedFd::from(r), OwnedFd::from(w)))
}

/// `fd`, or a close-on-exec copy of it numbered 3 or more.
pub fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    Ok(rustix::io::fcntl_dupfd_cloexec(&fd, 3)?)
}

/// Take ownership of descriptor `fd` inherited from the parent (see
/// `keep` of [`spawn_held`]) and make it close-on-exec; `None` if no such
/// descriptor is open or it is one of 0, 1 and 2.
pub fn adopt_inherited(fd: RawFd) -> Option<OwnedFd> {
    if fd <= 2 {
        return None;
    }
    // SAFETY: F_GETFD only asks whether `fd` is open in this process
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return None;
    }
    // SAFETY: the descriptor is open and nothing else in this process
    // owns it: it was inherited for this purpose only
    let owned = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    rustix::io::fcntl_setfd(&owned, rustix::io::FdFlags::CLOEXEC).ok()?;
    Some(owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn null_stdio() -> Stdio {
        let null = || OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
        Stdio {
            stdin: null(),
            stdout: null(),
            stderr: null(),
        }
    }

    fn wait(pid: i32) -> i32 {
        let mut st = 0;
        // SAFETY: waiting for our own child
        assert_eq!(unsafe { libc::waitpid(pid, &mut st, 0) }, pid);
        assert!(libc::WIFEXITED(st));
        libc::WEXITSTATUS(st)
    }

    fn output(exe: &str, args: &[&str], env_remove: &[&str]) -> (String, i32) {
        let (r, w) = pipe().unwrap();
        let w2 = w.try_clone().unwrap();
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        let h = spawn_held(
            Path::new(exe),
            &args,
            env_remove,
            CloneFlags::empty(),
            Stdio {
                stdin: OwnedFd::from(std::fs::File::open("/dev/null").unwrap()),
                stdout: w,
                stderr: w2,
            },
            None,
        )
        .unwrap();
        let pid = h.pid();
        h.release().unwrap();
        let mut out = String::new();
        std::fs::File::from(r).read_to_string(&mut out).unwrap();
        (out, wait(pid))
    }

    #[test]
    fn released_child_runs_with_its_args() {
        let (out, code) = output(
            "/bin/sh",
            &["-c", "echo \"$0|$1|$(cat)\"; exit 3", "zero", "one"],
            &[],
        );
        assert_eq!(out, "zero|one|\n");
        assert_eq!(code, 3);
    }

    #[test]
    fn the_child_has_the_environment_minus_the_removed() {
        let mut want: Vec<String> = std::env::vars()
            .filter(|(k, _)| k != "PATH")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        want.sort();
        let (out, code) = output("/usr/bin/env", &[], &["PATH"]);
        assert_eq!(code, 0);
        let mut got: Vec<String> = out.lines().map(String::from).collect();
        got.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn a_missing_program_is_an_error_of_release() {
        let h = spawn_held(
            Path::new("/nonexistent/program"),
            &[],
            &[],
            CloneFlags::empty(),
            null_stdio(),
            None,
        )
        .unwrap();
        let e = h.release().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
    }

    #[test]
    fn an_abandoned_child_executes_nothing() {
        let d = tempfile::tempdir().unwrap();
        let mark = d.path().join("ran");
        let h = spawn_held(
            Path::new("/bin/touch"),
            &[mark.as_os_str()],
            &[],
            CloneFlags::empty(),
            null_stdio(),
            None,
        )
        .unwrap();
        let pid = h.pid();
        h.abandon();
        // reaped by abandon: no such child any more
        // SAFETY: a non-blocking wait for our own (already reaped) child
        assert_eq!(
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) },
            -1
        );
        assert!(!mark.exists());
    }

    #[test]
    fn the_child_leads_its_own_process_group() {
        let (out, code) = output(
            "/bin/sh",
            &[
                "-c",
                "echo $$; read -r _ _ _ _ g _ < /proc/$$/stat; echo $g",
            ],
            &[],
        );
        assert_eq!(code, 0);
        let l: Vec<&str> = out.lines().collect();
        assert_eq!(l.len(), 2, "{out}");
        assert_eq!(l[0], l[1], "process group of {out}");
    }

    #[test]
    fn only_the_kept_descriptor_is_inherited() {
        let (kr, kw) = pipe().unwrap();
        let kw = above_stdio(kw).unwrap();
        let (_or, ow) = pipe().unwrap();
        let other = above_stdio(ow).unwrap();
        let script = format!(
            // (through /proc: sh redirects only descriptors 0 to 9)
            "k=/proc/$$/fd/{k}; echo kept > $k; \
             if [ -e /proc/$$/fd/{o} ]; then echo open > $k; else echo closed > $k; fi",
            k = kw.as_raw_fd(),
            o = other.as_raw_fd()
        );
        let h = spawn_held(
            Path::new("/bin/sh"),
            &[OsStr::new("-c"), OsStr::new(&script)],
            &[],
            CloneFlags::empty(),
            null_stdio(),
            Some(&kw),
        )
        .unwrap();
        let pid = h.pid();
        drop(kw);
        h.release().unwrap();
        let mut out = String::new();
        std::fs::File::from(kr).read_to_string(&mut out).unwrap();
        assert_eq!(wait(pid), 0);
        assert_eq!(out, "kept\nclosed\n");
    }
}
