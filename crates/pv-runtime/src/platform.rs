//! One container of the running revision: its volumes, its process and its
//! recovery bookkeeping.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pv_container::cgroup::Hierarchy;
use pv_container::lxcconf::LxcConfig;
use pv_container::spec::{BuildInput, ContainerSpec, SpecMount};
use pv_container::volumes::{self, VolumeSource};
use tracing::{info, warn};

use crate::layout::Layout;
use crate::model::{Persistence, PlatformDef, Status};
use crate::system::{CgroupVersion, Process, System};
use crate::{Error, Result};

/// What starting a container needs from the runtime.
#[derive(Debug, Clone)]
pub struct StartCtx<'a> {
    pub sys: &'a dyn System,
    pub layout: &'a Layout,
    pub rev: &'a str,
    pub group: &'a str,
    /// The binary that implements the `__container-init` subcommand.
    pub exe: &'a Path,
    pub hierarchies: &'a [Hierarchy],
    /// Where container consoles go (a copy thread into the log file when `None`).
    pub logs: Option<&'a pv_logs::LogHandle>,
}

/// A container and its runtime state.
#[derive(Debug)]
pub struct Platform {
    pub def: PlatformDef,
    pub status: Status,
    running: Option<Box<dyn Process>>,
    /// Host PID of the container's init (0 when not running).
    pub pid: i32,
    /// When the status goal times out (set at launch).
    pub goal_deadline: Option<Instant>,
    pub retries: u32,
    pub last_start: Option<Instant>,
    pub recover_at: Option<Instant>,
    pub user_stopped: bool,
    pub recovery_failed: bool,
    pub goal_reached_at: Option<Instant>,
    pub mounted: bool,
    pub last_exit: Option<i32>,
    /// While STOPPING on request: when to give up waiting and SIGKILL.
    pub stop_deadline: Option<Instant>,
    /// Start again once stopped (an API restart, or a start while stopping).
    pub restart_after_stop: bool,
}

impl Platform {
    pub fn new(def: PlatformDef) -> Platform {
        Platform {
            def,
            status: Status::Installed,
            running: None,
            pid: 0,
            goal_deadline: None,
            retries: 0,
            last_start: None,
            recover_at: None,
            user_stopped: false,
            recovery_failed: false,
            goal_reached_at: None,
            mounted: false,
            last_exit: None,
            stop_deadline: None,
            restart_after_stop: false,
        }
    }

    pub fn name(&self) -> &str {
        &self.def.name
    }

    fn voldir(&self, layout: &Layout) -> PathBuf {
        layout.voldir.join(&self.def.name)
    }

    /// Mount every volume (images read-only, storage volumes by
    /// persistence). On failure nothing stays mounted.
    pub fn mount(
        &mut self,
        sys: &dyn System,
        layout: &Layout,
        rev: &str,
        disks: &mut pv_disks::Disks,
    ) -> Result<()> {
        if self.mounted {
            return Ok(());
        }
        let r = self.mount_inner(sys, layout, rev, disks);
        if r.is_err() {
            let _ = sys.unmount_all(&self.voldir(layout));
        } else {
            self.mounted = true;
        }
        r
    }

    fn mount_inner(
        &mut self,
        sys: &dyn System,
        layout: &Layout,
        rev: &str,
        disks: &mut pv_disks::Disks,
    ) -> Result<()> {
        let name = &self.def.name;
        let trail = layout.trail(rev).join(name);
        let vd = self.voldir(layout);
        for img in &self.def.images {
            let src = pv_fs::safe_join(&trail, img)?;
            if !src.is_file() {
                return Err(Error::VolumeMissing {
                    container: name.clone(),
                    volume: img.clone(),
                    rev: rev.to_string(),
                });
            }
            let target = pv_fs::safe_join(&vd, img)?;
            sys.mount_volume(
                &VolumeSource::Image {
                    fstype: volumes::fstype_of(&src),
                    path: src,
                },
                &target,
            )?;
        }
        let mut storage = self.def.storage.clone();
        if !storage.iter().any(|v| v.name == "lxc-overlay") && self.def.config.is_some() {
            storage.push(crate::model::VolumeDef {
                name: "lxc-overlay".into(),
                persistence: Persistence::Boot,
                disk: None,
            });
        }
        for v in &storage {
            let source = match crate::disks::volume_dir(disks, v, rev, name)? {
                Some(dir) => VolumeSource::Dir(dir),
                None => match v.persistence {
                    Persistence::Permanent => {
                        VolumeSource::Dir(layout.disks().join("perm").join(name).join(&v.name))
                    }
                    Persistence::Revision => VolumeSource::Dir(
                        layout
                            .disks()
                            .join("rev")
                            .join(rev)
                            .join(name)
                            .join(&v.name),
                    ),
                    Persistence::Boot => VolumeSource::Tmpfs,
                },
            };
            sys.mount_volume(&source, &pv_fs::safe_join(&vd, &v.name)?)?;
        }
        Ok(())
    }

    /// Unmount all volumes of the container.
    pub fn unmount(&mut self, sys: &dyn System, layout: &Layout) {
        let vd = self.voldir(layout);
        if let Err(e) = sys.unmount_all(&vd) {
            warn!("container {}: unmount volumes: {e}", self.def.name);
        }
        // never recurse into something still mounted (a permanent volume!)
        if sys.mounts_under(&vd).is_empty() {
            let _ = fs::remove_dir_all(&vd);
        } else {
            warn!(
                "container {}: volumes still mounted under {}",
                self.def.name,
                vd.display()
            );
        }
        self.mounted = false;
    }

    /// Start the container (its volumes must be mounted).
    pub fn start(&mut self, ctx: &StartCtx<'_>) -> Result<()> {
        let name = self.def.name.clone();
        let layout = ctx.layout;
        let trail = layout.trail(ctx.rev);
        let cfg_rel = self
            .def
            .config
            .clone()
            .ok_or_else(|| Error::NoLxcConfig(name.clone()))?;
        let cfg_path = pv_fs::safe_join(&trail.join(&name), &cfg_rel)?;
        let text =
            fs::read_to_string(&cfg_path).map_err(|e| pv_fs::FsError::new("read", &cfg_path, e))?;
        let lxc = LxcConfig::parse(&text)?;
        for (k, _) in &lxc.other {
            if !matches!(
                k.as_str(),
                "lxc.tty.max" | "lxc.pty.max" | "lxc.console.path" | "lxc.autodev" | "lxc.arch"
            ) {
                warn!("container {name}: lxc setting {k} is not supported and is ignored");
            }
        }
        // _config/<name>/ becomes the top layer of the root filesystem
        let overlay_src = trail.join("_config").join(&name);
        let overlay = if overlay_src.is_dir() {
            let dst = layout.configs().join(&name);
            let _ = fs::remove_dir_all(&dst);
            copy_tree(&overlay_src, &dst)?;
            Some(dst)
        } else {
            None
        };
        let cgroup = if ctx.hierarchies.is_empty() {
            None
        } else {
            let sys = ctx.sys;
            let cg =
                sys.create_cgroup(ctx.hierarchies, &format!("{}/{name}", layout.cgroup_base()))?;
            for (k, v) in &lxc.cgroup_v1 {
                if let Err(e) = sys.set_cgroup(&cg, CgroupVersion::V1, k, v) {
                    warn!("container {name}: lxc.cgroup.{k}: {e}");
                }
            }
            for (k, v) in &lxc.cgroup_v2 {
                sys.set_cgroup(&cg, CgroupVersion::V2, k, v)?;
            }
            Some(cg)
        };
        let work = layout.containers().join(&name);
        // a plain container sees its logs at /pantavisor/logs from the start
        let logdir = layout.logs().join(ctx.rev).join(&name).join("lxc");
        fs::create_dir_all(&logdir)
            .map_err(|e| pv_fs::FsError::new("create directory", &logdir, e))?;
        let spec = ContainerSpec::build(BuildInput {
            name: &name,
            group: ctx.group,
            lxc: &lxc,
            voldir: &layout.voldir,
            config_overlay: overlay,
            workdir: &work,
            extra_mounts: self.pantavisor_mounts(layout, ctx.rev),
            cgroup,
        })?;
        let mut running = ctx.sys.launch(&spec, ctx.exe)?;
        self.pid = running.pid();
        if let Some(console) = running.take_console() {
            let log = layout
                .logs()
                .join(ctx.rev)
                .join(&name)
                .join("lxc")
                .join("console.log");
            spawn_console_copy(console, log);
        }
        info!("container {name}: started, init pid {}", self.pid);
        self.running = Some(running);
        self.status = Status::Started;
        self.last_start = Some(Instant::now());
        self.goal_reached_at = None;
        Ok(())
    }

    /// The `/pantavisor` mounts of this container by role (spec §5.7).
    fn pantavisor_mounts(&self, layout: &Layout, rev: &str) -> Vec<SpecMount> {
        let m = |src: PathBuf, target: &str, extra: &[&str]| {
            let mut options = vec!["bind".to_string(), "optional".to_string()];
            options.extend(extra.iter().map(|s| s.to_string()));
            SpecMount {
                source: src.to_string_lossy().into_owned(),
                target: target.into(),
                fstype: "none".into(),
                options,
            }
        };
        let name = &self.def.name;
        if self.def.roles.iter().any(|r| r == "mgmt") {
            // `<rundir>/logs` exists on the host (see `Layout::create`), so the
            // nested mount needs no directory inside the read-only bind
            vec![
                m(layout.rundir.clone(), "pantavisor", &["ro", "create=dir"]),
                m(layout.logs(), "pantavisor/logs", &["ro"]),
            ]
        } else {
            vec![
                m(
                    layout.rundir.join("pv-ctrl"),
                    "pantavisor/pv-ctrl",
                    &["create=file"],
                ),
                m(
                    layout.rundir.join("pv-ctrl-log"),
                    "pantavisor/pv-ctrl-log",
                    &["create=file"],
                ),
                m(
                    layout.logs().join(rev).join(name),
                    "pantavisor/logs",
                    &["ro", "create=dir"],
                ),
                m(
                    layout.rundir.join(format!("user-meta.{name}")),
                    "pantavisor/user-meta",
                    &["ro", "create=dir"],
                ),
                m(
                    layout.rundir.join(format!("device-meta.{name}")),
                    "pantavisor/device-meta",
                    &["ro", "create=dir"],
                ),
            ]
        }
    }

    /// `Some(exit code)` if the container's init has exited since the last call.
    pub fn poll_exit(&mut self) -> Option<i32> {
        let code = self.running.as_mut()?.try_exit()?;
        let mut r = self.running.take().expect("running");
        r.stop(Duration::ZERO);
        self.pid = 0;
        self.last_exit = Some(code);
        Some(code)
    }

    /// True while the init process runs.
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Ask the init to stop (SIGTERM) without waiting.
    pub fn request_stop(&self) {
        if let Some(r) = &self.running {
            r.signal(nix::sys::signal::Signal::SIGTERM);
        }
    }

    /// True once a running container's init has exited (it is then reaped
    /// by the next `stop`).
    pub fn has_exited(&mut self) -> bool {
        self.running
            .as_mut()
            .is_some_and(|r| r.try_exit().is_some())
    }

    /// Stop the init (SIGTERM, then SIGKILL after `grace`).
    pub fn stop(&mut self, grace: Duration) {
        if let Some(mut r) = self.running.take() {
            let code = r.stop(grace);
            info!("container {}: stopped (exit {code})", self.def.name);
            self.last_exit = Some(code);
        }
        self.pid = 0;
    }
}

fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    fs::create_dir_all(dst).map_err(|e| pv_fs::FsError::new("create directory", dst, e))?;
    for e in fs::read_dir(src).map_err(|e| pv_fs::FsError::new("read directory", src, e))? {
        let e = e.map_err(|e| pv_fs::FsError::new("read directory", src, e))?;
        let to = dst.join(e.file_name());
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            copy_tree(&e.path(), &to)?;
        } else {
            fs::copy(e.path(), &to).map_err(|err| pv_fs::FsError::new("copy", &to, err))?;
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(&to, fs::Permissions::from_mode(0o644));
        }
    }
    Ok(())
}

/// Copy a container's console into its log file until the pipe closes.
fn spawn_console_copy(mut console: std::io::PipeReader, log: PathBuf) {
    std::thread::spawn(move || {
        if let Some(d) = log.parent() {
            let _ = fs::create_dir_all(d);
        }
        let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(&log) else {
            return;
        };
        let mut buf = [0u8; 8192];
        while let Ok(n) = console.read(&mut buf) {
            if n == 0 {
                break;
            }
            let _ = f.write_all(&buf[..n]);
        }
    });
}
