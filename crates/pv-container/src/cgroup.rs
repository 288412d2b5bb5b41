//! cgroup placement for containers, on v1, v2 or hybrid hosts.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hierarchy {
    pub mount: PathBuf,
    /// cgroup2 (unified) rather than v1.
    pub v2: bool,
    /// v1 controllers of this hierarchy (`memory`, `cpu`, `name=systemd`, …).
    pub controllers: Vec<String>,
}

/// The hierarchies mounted on this host.
pub fn detect() -> Vec<Hierarchy> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out = vec![];
    for l in text.lines() {
        let (pre, post) = match l.split_once(" - ") {
            Some(x) => x,
            None => continue,
        };
        let mount = PathBuf::from(pre.split(' ').nth(4).unwrap_or(""));
        let mut post = post.split(' ');
        let fstype = post.next().unwrap_or("");
        let _src = post.next();
        let opts = post.next().unwrap_or("");
        match fstype {
            "cgroup2" => out.push(Hierarchy {
                mount,
                v2: true,
                controllers: vec![],
            }),
            "cgroup" => {
                let controllers = opts
                    .split(',')
                    .filter(|o| {
                        !matches!(
                            *o,
                            "rw" | "ro"
                                | "nosuid"
                                | "nodev"
                                | "noexec"
                                | "relatime"
                                | "clone_children"
                        )
                    })
                    .filter(|o| !o.starts_with("release_agent"))
                    .map(String::from)
                    .collect();
                out.push(Hierarchy {
                    mount,
                    v2: false,
                    controllers,
                })
            }
            _ => {}
        }
    }
    out
}

/// A container's cgroup: one directory per hierarchy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cgroup {
    /// Path relative to each hierarchy's root, e.g. `pantavisor/app`.
    pub rel: String,
    pub dirs: Vec<(Hierarchy, PathBuf)>,
}

fn write(path: &Path, value: &str) -> Result<()> {
    fs::write(path, value).map_err(|e| pv_fs::FsError::new("write", path, e).into())
}

/// A write whose failure does not stop the container (the kernel may lack
/// the controller), but is logged with its path.
fn write_or_warn(path: &Path, value: &str) {
    if let Err(e) = fs::write(path, value) {
        tracing::warn!("cgroup: cannot write {value:?} to {}: {e}", path.display());
    }
}

/// Let the memory/pids/cpu limits apply below `parent` (cgroup v2), for
/// those of them the parent offers: on a hybrid host they belong to v1
/// and the unified hierarchy has none to give.
fn enable_limits_below(parent: &Path) {
    let offered = fs::read_to_string(parent.join("cgroup.controllers")).unwrap_or_default();
    let wanted: Vec<String> = ["memory", "pids", "cpu"]
        .into_iter()
        .filter(|c| offered.split_whitespace().any(|o| o == *c))
        .map(|c| format!("+{c}"))
        .collect();
    if !wanted.is_empty() {
        write_or_warn(&parent.join("cgroup.subtree_control"), &wanted.join(" "));
    }
}

impl Cgroup {
    /// Create `rel` in every hierarchy (cpuset gets its parent's cpus/mems).
    pub fn create(hierarchies: &[Hierarchy], rel: &str) -> Result<Cgroup> {
        let mut dirs = vec![];
        for h in hierarchies {
            let dir = h.mount.join(rel);
            let mut cur = h.mount.clone();
            for seg in rel.split('/') {
                let parent = cur.clone();
                cur.push(seg);
                if !cur.exists() {
                    fs::create_dir(&cur)
                        .map_err(|e| pv_fs::FsError::new("create cgroup", &cur, e))?;
                    if h.controllers.iter().any(|c| c == "cpuset") {
                        for f in ["cpuset.cpus", "cpuset.mems"] {
                            match fs::read_to_string(parent.join(f)) {
                                Ok(v) => write_or_warn(&cur.join(f), v.trim()),
                                Err(e) => tracing::warn!(
                                    "cgroup: cannot read {}: {e}",
                                    parent.join(f).display()
                                ),
                            }
                        }
                    }
                    if h.v2 {
                        enable_limits_below(&parent);
                    }
                }
            }
            dirs.push((h.clone(), dir));
        }
        Ok(Cgroup {
            rel: rel.to_string(),
            dirs,
        })
    }

    /// Apply `lxc.cgroup.<key> = value` (v1: the hierarchy of the key's controller).
    pub fn set_v1(&self, key: &str, value: &str) -> Result<()> {
        let controller = key.split('.').next().unwrap_or("");
        let (_, dir) = self
            .dirs
            .iter()
            .find(|(h, _)| !h.v2 && h.controllers.iter().any(|c| c == controller))
            .ok_or_else(|| {
                Error::Config(format!(
                    "cgroup v1 controller {controller:?} is not mounted (lxc.cgroup.{key})"
                ))
            })?;
        write(&dir.join(key), value)
    }

    /// Apply `lxc.cgroup2.<key> = value` on the unified hierarchy.
    pub fn set_v2(&self, key: &str, value: &str) -> Result<()> {
        let (_, dir) =
            self.dirs.iter().find(|(h, _)| h.v2).ok_or_else(|| {
                Error::Config(format!("no cgroup2 hierarchy for lxc.cgroup2.{key}"))
            })?;
        write(&dir.join(key), value)
    }

    /// Move process `pid` (and its future children) into this cgroup.
    pub fn add_process(&self, pid: i32) -> Result<()> {
        for (h, dir) in &self.dirs {
            let f = if h.v2 { "cgroup.procs" } else { "tasks" };
            write(&dir.join(f), &pid.to_string())?;
        }
        Ok(())
    }

    /// Processes in the cgroup.
    pub fn pids(&self) -> Vec<i32> {
        let Some((_, dir)) = self.dirs.iter().find(|(h, _)| h.v2).or(self.dirs.first()) else {
            return vec![];
        };
        fs::read_to_string(dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// SIGKILL every process of the cgroup.
    pub fn kill_all(&self) {
        if let Some((_, dir)) = self.dirs.iter().find(|(h, _)| h.v2) {
            let kill = dir.join("cgroup.kill");
            match fs::write(&kill, "1") {
                Ok(()) => return,
                // before Linux 5.14 there is no cgroup.kill: signal each pid
                Err(e) => tracing::debug!("cgroup: {}: {e}; killing each process", kill.display()),
            }
        }
        for pid in self.pids() {
            let Some(p) = rustix::process::Pid::from_raw(pid) else {
                continue;
            };
            match rustix::process::kill_process(p, rustix::process::Signal::KILL) {
                Ok(()) | Err(rustix::io::Errno::SRCH) => {}
                Err(e) => tracing::warn!("cgroup {}: cannot kill pid {pid}: {e}", self.rel),
            }
        }
    }

    /// SIGKILL every process, wait up to 1 s for the cgroup to empty, then
    /// remove it (best effort: what stays is reported by the next attempt).
    pub fn kill_and_remove(&self) {
        self.kill_all();
        for _ in 0..100 {
            if self.pids().is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        if let Err(e) = self.remove() {
            tracing::warn!("{e}");
        }
    }

    /// Remove the cgroup directories (they must be empty of processes).
    pub fn remove(&self) -> Result<()> {
        for (_, dir) in &self.dirs {
            if dir.exists() {
                fs::remove_dir(dir).map_err(|e| pv_fs::FsError::new("remove cgroup", dir, e))?;
            }
        }
        Ok(())
    }

    /// The cgroup path of the unified hierarchy as `/proc/<pid>/cgroup` shows it.
    pub fn unified_path(&self) -> String {
        format!("/{}", self.rel)
    }
}

/// The container a process belongs to, from `/proc/<pid>/cgroup`, if it
/// lives under `pantavisor/<name>` in any hierarchy.
pub fn container_of(pid: i32, base: &str) -> Option<String> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    for l in text.lines() {
        let path = l.splitn(3, ':').nth(2)?;
        if let Some(rest) = path.strip_prefix(&format!("/{base}/")) {
            return rest.split('/').next().map(String::from);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checked against the kernel's other views: each detected mount is a
    /// cgroup filesystem of the detected version (only cgroup2 has
    /// `cgroup.controllers`), this process belongs to each detected
    /// hierarchy (`/proc/self/cgroup`), and none is missed.
    #[test]
    fn detected_hierarchies_match_the_kernel() {
        let hierarchies = detect();
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let cgroup_mounts = mountinfo
            .lines()
            .filter_map(|l| l.split_once(" - "))
            .filter(|(_, post)| post.starts_with("cgroup ") || post.starts_with("cgroup2 "))
            .count();
        assert_eq!(hierarchies.len(), cgroup_mounts, "{hierarchies:?}");
        // "<id>:<controllers>:<path>"; cgroup2 is id 0 with no controllers
        let own = fs::read_to_string("/proc/self/cgroup").unwrap();
        let own: Vec<(&str, Vec<&str>)> = own
            .lines()
            .filter_map(|l| {
                let mut f = l.splitn(3, ':');
                let id = f.next()?;
                let controllers = f.next()?.split(',').filter(|c| !c.is_empty());
                Some((id, controllers.collect()))
            })
            .collect();
        for h in &hierarchies {
            assert!(h.mount.join("cgroup.procs").is_file(), "{h:?}");
            assert_eq!(h.mount.join("cgroup.controllers").is_file(), h.v2, "{h:?}");
            let member = if h.v2 {
                own.iter().any(|(id, c)| *id == "0" && c.is_empty())
            } else {
                own.iter().any(|(id, c)| {
                    *id != "0"
                        && !c.is_empty()
                        && c.iter().all(|c| h.controllers.iter().any(|hc| hc == c))
                })
            };
            assert!(member, "{h:?} not in /proc/self/cgroup: {own:?}");
        }
    }
}
