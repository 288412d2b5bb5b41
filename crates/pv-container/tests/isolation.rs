//! A real container from a busybox rootfs, checked from inside and outside.
//! Needs root, squashfs-tools and busybox-static (pv_testkit decides: a
//! failure under CI, a counted skip elsewhere).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use pv_container::cgroup::{self, Cgroup};
use pv_container::lxcconf::LxcConfig;
use pv_container::spec::{BuildInput, ContainerSpec};
use pv_container::volumes::{mount_volume, unmount_all, VolumeSource};

fn can_run() -> bool {
    pv_testkit::require_root() && pv_testkit::require_tools(&["/bin/busybox", "mksquashfs"])
}

fn busybox_squashfs(dir: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    for a in [
        "sh", "cat", "echo", "touch", "hostname", "ls", "sleep", "grep",
    ] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a)).unwrap();
    }
    std::fs::write(rootfs.join("etc/motd"), "from the image\n").unwrap();
    let img = dir.join("root.squashfs");
    let st = Command::new("mksquashfs")
        .arg(&rootfs)
        .arg(&img)
        .args(["-noappend", "-quiet", "-no-progress", "-comp", "gzip"])
        .status()
        .unwrap();
    assert!(st.success());
    img
}

fn mounted(needle: &Path) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(needle.to_str().unwrap())
}

#[test]
fn busybox_container_is_isolated() {
    if !can_run() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let img = busybox_squashfs(d.path());
    let voldir = d.path().join("volumes");
    let perm = d.path().join("disks/perm/app/docker--data");
    let vol = voldir.join("app");
    mount_volume(
        &VolumeSource::Image {
            path: img,
            fstype: "squashfs".into(),
        },
        &vol.join("root.squashfs"),
    )
    .unwrap();
    mount_volume(&VolumeSource::Tmpfs, &vol.join("lxc-overlay")).unwrap();
    mount_volume(&VolumeSource::Dir(perm.clone()), &vol.join("docker--data")).unwrap();
    let configs = d.path().join("configs/app/etc");
    std::fs::create_dir_all(&configs).unwrap();
    std::fs::write(configs.join("motd"), "from _config\n").unwrap();

    let script = "echo pid=$$; echo host=$(hostname); cat /etc/motd; \
        grep -q ' / overlay ' /proc/mounts && echo root=overlay; \
        touch /written && echo wrote; echo perm > /data/file; \
        cat /proc/self/cgroup; sleep 30";
    let conf = format!(
        "lxc.rootfs.path = overlayfs:/volumes/app/root.squashfs:/volumes/app/lxc-overlay/upper\n\
         lxc.init.cmd = /bin/sh \"-c\" \"{script}\"\n\
         lxc.mount.auto = proc sys cgroup\nlxc.namespace.keep = user net ipc\n\
         lxc.mount.entry = /volumes/app/docker--data data none bind,rw,create=dir 0 0\n"
    );
    let lxc = LxcConfig::parse(&conf).unwrap();
    let hier = cgroup::detect();
    let cg = if hier.is_empty() {
        None
    } else {
        Some(Cgroup::create(&hier, "pantavisor-test/app").unwrap())
    };
    let spec = ContainerSpec::build(BuildInput {
        name: "app",
        group: "app",
        lxc: &lxc,
        voldir: &voldir,
        config_overlay: Some(d.path().join("configs/app")),
        workdir: &d.path().join("work/app"),
        extra_mounts: vec![],
        cgroup: cg,
    })
    .unwrap();
    let mut c =
        pv_container::launch(&spec, Path::new(env!("CARGO_BIN_EXE_pv-container-init"))).unwrap();
    let mut console = c.console.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = console.read_to_string(&mut s);
        s
    });
    // outside view: the init runs in the container's cgroup
    std::thread::sleep(Duration::from_millis(700));
    if !hier.is_empty() {
        assert_eq!(
            cgroup::container_of(c.pid, "pantavisor-test").as_deref(),
            Some("app")
        );
    }
    let code = c.stop(Duration::from_millis(300));
    assert_ne!(code, 0, "sleeping init had to be killed");
    let out = reader.join().unwrap();
    println!("{out}");
    assert!(out.contains("pid=1\n"), "{out}");
    assert!(out.contains("host=app\n"), "{out}");
    assert!(
        out.contains("from _config"),
        "config overlay wins over the image: {out}"
    );
    assert!(out.contains("root=overlay"), "{out}");
    assert!(out.contains("wrote"), "{out}");
    if !hier.is_empty() {
        assert!(
            out.contains("0::/\n") || out.lines().any(|l| l.ends_with(":/")),
            "cgroup namespace: {out}"
        );
    }
    // writes land in the upper dir, the image stays read-only
    assert!(vol.join("lxc-overlay/upper/written").exists());
    assert!(std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(vol.join("root.squashfs/x"))
        .is_err());
    assert_eq!(
        std::fs::read_to_string(perm.join("file")).unwrap(),
        "perm\n"
    );
    // nothing of the container stays mounted once its volumes are released
    unmount_all(&voldir).unwrap();
    assert!(!mounted(&voldir), "volumes still mounted");
    assert!(!mounted(&spec.rootfs), "rootfs visible on the host");
    assert!(perm.join("file").exists(), "permanent data survives");
}

/// A read-only busybox root from a plain directory, with `script` as init.
fn dir_container(d: &Path, name: &str, script: &str) -> ContainerSpec {
    let rootfs = d.join("volumes/root");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    for sub in ["proc", "sys", "dev"] {
        std::fs::create_dir_all(rootfs.join(sub)).unwrap();
    }
    if !rootfs.join("bin/busybox").exists() {
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        for a in ["sh", "sleep", "cat", "echo"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a)).unwrap();
        }
    }
    let conf = format!(
        "lxc.rootfs.path = dir:/volumes/root\nlxc.init.cmd = /bin/sh \"-c\" \"{script}\"\n\
         lxc.mount.auto = proc\n"
    );
    let hier = cgroup::detect();
    let cg = (!hier.is_empty())
        .then(|| Cgroup::create(&hier, &format!("pantavisor-test/{name}")).unwrap());
    ContainerSpec::build(BuildInput {
        name,
        group: "app",
        lxc: &LxcConfig::parse(&conf).unwrap(),
        voldir: &d.join("volumes"),
        config_overlay: None,
        workdir: &d.join("work").join(name),
        extra_mounts: vec![],
        cgroup: cg,
    })
    .unwrap()
}

fn wait_exit(c: &mut pv_container::Running) -> i32 {
    for _ in 0..500 {
        if let Some(code) = c.try_exit() {
            return code;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("container {} did not exit", c.name);
}

#[test]
fn init_is_a_child_of_the_runtime_and_reports_its_exit() {
    if !can_run() {
        return;
    }
    let exe = Path::new(env!("CARGO_BIN_EXE_pv-container-init"));
    let d = tempfile::tempdir().unwrap();

    // no supervisor in between: the init's parent is the launcher, and it
    // is placed in its cgroup; its exit code comes back as is
    let spec = dir_container(d.path(), "exits", "cat /proc/1/cmdline; exit 7");
    let mut c = pv_container::launch(&spec, exe).unwrap();
    let status = std::fs::read_to_string(format!("/proc/{}/status", c.pid)).unwrap();
    let ppid = status.lines().find(|l| l.starts_with("PPid:")).unwrap();
    assert_eq!(
        ppid.split_whitespace().nth(1),
        Some(&*std::process::id().to_string())
    );
    assert_eq!(
        std::fs::read_to_string(&spec.pid_file).unwrap(),
        c.pid.to_string()
    );
    let mut console = c.console.take().unwrap();
    assert_eq!(wait_exit(&mut c), 7);
    assert_eq!(c.try_exit(), Some(7), "the exit code is kept");
    let mut out = String::new();
    console.read_to_string(&mut out).unwrap();
    assert_eq!(out, "/bin/sh\0-c\0cat /proc/1/cmdline; exit 7\0");
    c.stop(Duration::ZERO);

    // killed by a signal: 128 + the signal
    let spec = dir_container(d.path(), "killed", "sleep 30");
    let mut c = pv_container::launch(&spec, exe).unwrap();
    if let Some(cg) = &spec.cgroup {
        assert!(cg.pids().contains(&c.pid), "init placed in its cgroup");
    }
    c.signal(nix::sys::signal::Signal::SIGKILL);
    assert_eq!(wait_exit(&mut c), 128 + 9);
    c.stop(Duration::ZERO);

    // a binary that cannot be executed is an error of the launch
    let spec = dir_container(d.path(), "noexe", "true");
    let e = pv_container::launch(&spec, &d.path().join("missing")).unwrap_err();
    assert!(e.to_string().contains("cannot execute"), "{e}");
    assert!(
        !spec.pid_file.exists(),
        "no pid file of an init that never ran"
    );
    if let Some(cg) = &spec.cgroup {
        assert!(cg.pids().is_empty(), "nothing left in the cgroup");
        cg.kill_and_remove();
    }
}
