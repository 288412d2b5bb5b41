//! Everything needed to start one container, built from its LXC config
//! and handed to its init stage (`__container-init`) as JSON.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cgroup::Cgroup;
use crate::lxcconf::LxcConfig;
use crate::{Error, Result};

/// A mount inside the container (target relative to its root).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecMount {
    /// Host path for binds, else the mount source (`tmpfs`, …).
    pub source: String,
    pub target: String,
    pub fstype: String,
    pub options: Vec<String>,
}

/// A container ready to be started.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerSpec {
    pub name: String,
    pub hostname: String,
    /// The init command and its arguments.
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    /// Overlay lower layers on the host, highest priority first.
    pub lower: Vec<PathBuf>,
    /// Writable upper and work dirs; `None` = read-only root.
    pub upper: Option<(PathBuf, PathBuf)>,
    /// Where the root is assembled (inside the container's mount namespace).
    pub rootfs: PathBuf,
    pub mounts: Vec<SpecMount>,
    pub mount_proc: bool,
    /// `None` = no /sys; `Some(true)` = read-write.
    pub mount_sys: Option<bool>,
    pub mount_cgroup: bool,
    /// Namespaces to create besides mount, PID, UTS and cgroup.
    pub new_net: bool,
    pub new_ipc: bool,
    /// The cgroup the init is placed in before it runs anything.
    pub cgroup: Option<Cgroup>,
    /// Where the runtime writes the container init's host PID.
    pub pid_file: PathBuf,
}

/// What the runtime knows about a container besides its LXC config.
#[derive(Debug, Clone)]
pub struct BuildInput<'a> {
    pub name: &'a str,
    pub group: &'a str,
    pub lxc: &'a LxcConfig,
    /// Where `/volumes/` paths of the config really are.
    pub voldir: &'a Path,
    /// The container's `_config` overlay directory, if it has one.
    pub config_overlay: Option<PathBuf>,
    /// Per-container scratch dir on the host (rootfs mount point, pid file).
    pub workdir: &'a Path,
    /// Extra mounts decided by the runtime (`/pantavisor`, `/dev/log`, …).
    pub extra_mounts: Vec<SpecMount>,
    pub cgroup: Option<Cgroup>,
}

/// Map a path of the LXC config to the host: `/volumes/…` lives in `voldir`.
pub fn host_path(p: &str, voldir: &Path) -> PathBuf {
    match p.strip_prefix("/volumes/") {
        Some(rest) => voldir.join(rest),
        None => PathBuf::from(p),
    }
}

impl ContainerSpec {
    /// Build the spec of a container.
    pub fn build(i: BuildInput<'_>) -> Result<ContainerSpec> {
        let lxc = i.lxc;
        let rootfs_path = lxc.rootfs_path.clone().ok_or_else(|| {
            Error::Config(format!("container {}: lxc.rootfs.path is missing", i.name))
        })?;
        let (mut lower, upper) = match rootfs_path.strip_prefix("overlayfs:") {
            Some(rest) => {
                let parts: Vec<&str> = rest.split(':').collect();
                let (up, low) = parts.split_last().expect("split gives one part");
                let upper = host_path(up, i.voldir);
                let work = upper.with_file_name("work");
                (
                    low.iter()
                        .map(|l| host_path(l, i.voldir))
                        .collect::<Vec<_>>(),
                    Some((upper, work)),
                )
            }
            None => (
                vec![host_path(rootfs_path.trim_start_matches("dir:"), i.voldir)],
                None,
            ),
        };
        if let Some(cfg) = i.config_overlay {
            lower.insert(0, cfg);
        }
        let mut mounts: Vec<SpecMount> = lxc
            .mount_entries
            .iter()
            .map(|m| SpecMount {
                source: if m.is_bind() {
                    host_path(&m.source, i.voldir)
                        .to_string_lossy()
                        .into_owned()
                } else {
                    m.source.clone()
                },
                target: m.target.clone(),
                fstype: m.fstype.clone(),
                options: m.options.clone(),
            })
            .collect();
        mounts.extend(i.extra_mounts);
        for m in &mounts {
            pv_fs::validate_rel_path(m.target.trim_end_matches('/')).map_err(|e| {
                Error::Config(format!(
                    "container {}: mount target {:?}: {e}",
                    i.name, m.target
                ))
            })?;
        }
        let auto = |w: &str| {
            lxc.mount_auto
                .iter()
                .find(|a| a.split(':').next() == Some(w))
        };
        let mut env = lxc.environment.clone();
        env.push(format!("container=pv-{}", i.group));
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.push("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
        }
        Ok(ContainerSpec {
            name: i.name.to_string(),
            hostname: lxc.uts_name.clone().unwrap_or_else(|| i.name.to_string()),
            args: lxc.init_cmd.clone(),
            env,
            cwd: lxc.init_cwd.clone().unwrap_or_else(|| "/".into()),
            lower,
            upper,
            rootfs: i.workdir.join("rootfs"),
            mounts,
            mount_proc: auto("proc").is_some(),
            mount_sys: auto("sys").map(|a| a.ends_with(":rw")),
            mount_cgroup: auto("cgroup").is_some(),
            new_net: !lxc.keeps("net"),
            new_ipc: !lxc.keeps("ipc"),
            cgroup: i.cgroup,
            pid_file: i.workdir.join("init.pid"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_rootfs_and_volume_paths() {
        let lxc = LxcConfig::parse(
            "lxc.rootfs.path = overlayfs:/volumes/app/root.squashfs:/volumes/app/lxc-overlay/upper\n\
             lxc.mount.entry = /volumes/app/docker--data data none bind,rw,create=dir 0 0\n\
             lxc.mount.entry = tmpfs run tmpfs rw,nodev,create=dir,mode=755 0 0\n\
             lxc.mount.auto = proc sys:rw cgroup\nlxc.namespace.keep = user net ipc\n",
        )
        .unwrap();
        let s = ContainerSpec::build(BuildInput {
            name: "app",
            group: "app",
            lxc: &lxc,
            voldir: Path::new("/run/pv/volumes"),
            config_overlay: Some(PathBuf::from("/run/pv/configs/app")),
            workdir: Path::new("/run/pv/containers/app"),
            extra_mounts: vec![],
            cgroup: None,
        })
        .unwrap();
        assert_eq!(
            s.lower,
            [
                PathBuf::from("/run/pv/configs/app"),
                PathBuf::from("/run/pv/volumes/app/root.squashfs")
            ]
        );
        let (up, work) = s.upper.unwrap();
        assert_eq!(up, Path::new("/run/pv/volumes/app/lxc-overlay/upper"));
        assert_eq!(work, Path::new("/run/pv/volumes/app/lxc-overlay/work"));
        assert_eq!(s.mounts[0].source, "/run/pv/volumes/app/docker--data");
        assert_eq!(s.mounts[1].source, "tmpfs");
        assert!(s.mount_proc && s.mount_cgroup && s.mount_sys == Some(true));
        assert!(!s.new_net && !s.new_ipc);
        assert!(s.env.contains(&"container=pv-app".to_string()));
        assert_eq!(s.args, ["/sbin/init"]);
    }

    #[test]
    fn escaping_mount_targets_are_refused() {
        let lxc = LxcConfig::parse(
            "lxc.rootfs.path = /x\nlxc.mount.entry = /etc ../../etc none bind 0 0\n",
        )
        .unwrap();
        let e = ContainerSpec::build(BuildInput {
            name: "a",
            group: "app",
            lxc: &lxc,
            voldir: Path::new("/v"),
            config_overlay: None,
            workdir: Path::new("/w"),
            extra_mounts: vec![],
            cgroup: None,
        })
        .unwrap_err();
        assert!(e.to_string().contains("../../etc"), "{e}");
    }
}
