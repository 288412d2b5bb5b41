//! Inside the container's new namespaces: what `pantavisor
//! __container-init SPEC` does ([`container_init`]) between the runtime's
//! clone ([`crate::launch`]) and the container's own init.
//!
//! It runs as PID 1 of the container's PID namespace, already in the
//! container's cgroups: unshares its mount namespace (so that its
//! pivot_root cannot move the runtime's root) and its cgroup namespace
//! (rooted at the container's cgroup), assembles the root filesystem,
//! mounts /proc, /sys, /dev and the volumes, pivots into the root, sets the
//! hostname and executes the container's init in place.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::mount::MsFlags;
use nix::sched::{unshare, CloneFlags};

use crate::mounts::{bind, bind_with, ensure_target, make_rprivate, mount_fs, unmount};
use crate::spec::{ContainerSpec, SpecMount};
use crate::{Error, Result};

/// Read a spec written by the runtime.
pub fn read_spec(path: &Path) -> Result<ContainerSpec> {
    let bytes = std::fs::read(path).map_err(|e| pv_fs::FsError::new("read", path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
}

/// Set up the container described by the spec at `spec_path` and become
/// its init: never returns on success, else the exit code for the process.
/// `ready_fd`, inherited from the runtime, is closed when the container's
/// init is executed (or this stage fails): the runtime's sign that the
/// container is set up.
pub fn container_init(spec_path: &Path, ready_fd: Option<&str>) -> i32 {
    // held (close-on-exec) until the container's init is executed
    let _ready = ready_fd
        .and_then(|f| f.parse().ok())
        .and_then(crate::spawn::adopt_inherited);
    let err = match read_spec(spec_path).and_then(|s| setup_and_exec(&s)) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    eprintln!("pantavisor container init: {err}");
    127
}

enum Never {}

fn setup_and_exec(spec: &ContainerSpec) -> Result<Never> {
    let mut flags = CloneFlags::CLONE_NEWNS;
    if spec.cgroup.is_some() {
        flags |= CloneFlags::CLONE_NEWCGROUP;
    }
    unshare(flags).map_err(|e| Error::sys("unshare namespaces for", &spec.rootfs, e))?;
    make_rprivate()?;
    let root = &spec.rootfs;
    ensure_target(root, false)?;
    mount_root(spec)?;
    for m in &spec.mounts {
        mount_entry(root, m)?;
    }
    if spec.mount_proc {
        let t = root.join("proc");
        ensure_target(&t, false)?;
        mount_fs(
            "proc",
            &t,
            "proc",
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None,
        )?;
    }
    if let Some(rw) = spec.mount_sys {
        let t = root.join("sys");
        ensure_target(&t, false)?;
        let mut f = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        if !rw {
            f |= MsFlags::MS_RDONLY;
        }
        mount_fs("sysfs", &t, "sysfs", f, None)?;
        if spec.mount_cgroup {
            let c = t.join("fs/cgroup");
            if c.is_dir() {
                // the cgroup namespace makes the container's own cgroup its root
                let _ = mount_fs(
                    "cgroup2",
                    &c,
                    "cgroup2",
                    MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                    None,
                );
            }
        }
    }
    setup_dev(root)?;
    pivot(root)?;
    nix::unistd::sethostname(&spec.hostname).map_err(|e| Error::sys("set hostname", "/", e))?;
    let (prog, args) = spec
        .args
        .split_first()
        .ok_or_else(|| Error::Config("empty init command".into()))?;
    let mut cmd = Command::new(prog);
    cmd.args(args).env_clear().current_dir(&spec.cwd);
    for e in &spec.env {
        if let Some((k, v)) = e.split_once('=') {
            cmd.env(k, v);
        }
    }
    let err = cmd.exec();
    Err(Error::Start {
        name: spec.name.clone(),
        msg: format!("cannot execute {prog}: {err}"),
    })
}

fn mount_root(spec: &ContainerSpec) -> Result<()> {
    let root = &spec.rootfs;
    let lowers: Vec<String> = spec
        .lower
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    match (&spec.upper, lowers.len()) {
        (None, 1) => bind(&spec.lower[0], root, true),
        (None, _) => mount_fs(
            "overlay",
            root,
            "overlay",
            MsFlags::MS_RDONLY,
            Some(&format!("lowerdir={}", lowers.join(":"))),
        ),
        (Some((upper, work)), _) => {
            ensure_target(upper, false)?;
            ensure_target(work, false)?;
            let data = format!(
                "lowerdir={},upperdir={},workdir={}",
                lowers.join(":"),
                upper.display(),
                work.display()
            );
            mount_fs("overlay", root, "overlay", MsFlags::empty(), Some(&data))
        }
    }
}

fn mount_flags(options: &[String]) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = vec![];
    for o in options {
        match o.as_str() {
            "ro" => flags |= MsFlags::MS_RDONLY,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            "relatime" => flags |= MsFlags::MS_RELATIME,
            "rw" | "defaults" | "bind" | "rbind" | "optional" => {}
            o if o.starts_with("create=") => {}
            o => data.push(o.to_string()),
        }
    }
    (flags, data.join(","))
}

fn mount_entry(root: &Path, m: &SpecMount) -> Result<()> {
    let target = root.join(m.target.trim_end_matches('/'));
    let is_bind = m.options.iter().any(|o| o == "bind" || o == "rbind") || m.fstype == "bind";
    let optional = m.options.iter().any(|o| o == "optional");
    if is_bind {
        let src = PathBuf::from(&m.source);
        if !src.exists() {
            if optional {
                return Ok(());
            }
            return Err(Error::Config(format!(
                "bind source {} of {} does not exist",
                src.display(),
                m.target
            )));
        }
        let as_file = m.options.iter().any(|o| o == "create=file") || !src.is_dir();
        ensure_target(&target, as_file)?;
        let recursive = m.options.iter().any(|o| o == "rbind");
        return bind_with(
            &src,
            &target,
            m.options.iter().any(|o| o == "ro"),
            recursive,
        );
    }
    ensure_target(&target, false)?;
    let (flags, data) = mount_flags(&m.options);
    let r = mount_fs(
        &m.source,
        &target,
        &m.fstype,
        flags,
        (!data.is_empty()).then_some(data.as_str()),
    );
    if optional {
        Ok(())
    } else {
        r
    }
}

fn setup_dev(root: &Path) -> Result<()> {
    let dev = root.join("dev");
    ensure_target(&dev, false)?;
    mount_fs(
        "tmpfs",
        &dev,
        "tmpfs",
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("mode=755,size=65536k"),
    )?;
    for node in ["null", "zero", "full", "random", "urandom", "tty"] {
        let src = Path::new("/dev").join(node);
        if src.exists() {
            let t = dev.join(node);
            ensure_target(&t, true)?;
            bind(&src, &t, false)?;
        }
    }
    let pts = dev.join("pts");
    ensure_target(&pts, false)?;
    mount_fs(
        "devpts",
        &pts,
        "devpts",
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    )?;
    let shm = dev.join("shm");
    ensure_target(&shm, false)?;
    mount_fs(
        "tmpfs",
        &shm,
        "tmpfs",
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
    )?;
    for (link, to) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let _ = std::os::unix::fs::symlink(to, dev.join(link));
    }
    Ok(())
}

fn pivot(root: &Path) -> Result<()> {
    nix::unistd::chdir(root).map_err(|e| Error::sys("enter", root, e))?;
    nix::unistd::pivot_root(".", ".").map_err(|e| Error::sys("pivot into", root, e))?;
    unmount(Path::new("."))?;
    nix::unistd::chdir("/").map_err(|e| Error::sys("enter", "/", e))
}
