//! The subset of LXC's `lxc.container.conf` that Pantavisor containers use.
//!
//! Lines are `key = value`; `#` starts a comment. Keys that are not
//! understood are kept in [`LxcConfig::other`] and reported as warnings by
//! the caller, never silently dropped.

use crate::{Error, Result};

/// One `lxc.mount.entry`: `source target fstype options dump pass`
/// (the target is relative to the container root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub source: String,
    pub target: String,
    pub fstype: String,
    pub options: Vec<String>,
}

impl MountEntry {
    /// `create=dir` / `create=file`, if asked.
    pub fn create(&self) -> Option<&str> {
        self.options.iter().find_map(|o| o.strip_prefix("create="))
    }

    /// True for `bind`/`rbind`.
    pub fn is_bind(&self) -> bool {
        self.options.iter().any(|o| o == "bind" || o == "rbind") || self.fstype == "bind"
    }

    /// True when mounted read-only.
    pub fn read_only(&self) -> bool {
        self.options.iter().any(|o| o == "ro")
    }

    /// True when a missing source is not an error.
    pub fn optional(&self) -> bool {
        self.options.iter().any(|o| o == "optional")
    }
}

/// A parsed `lxc.container.conf`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LxcConfig {
    /// `lxc.init.cmd` split into words; `/sbin/init` when absent.
    pub init_cmd: Vec<String>,
    pub init_cwd: Option<String>,
    /// `lxc.environment` in order (`KEY=VALUE`).
    pub environment: Vec<String>,
    pub mount_entries: Vec<MountEntry>,
    /// `lxc.mount.auto` words (`proc`, `sys:rw`, `cgroup:mixed`, …).
    pub mount_auto: Vec<String>,
    /// `lxc.namespace.keep` (`user net ipc` by default in Pantavisor).
    pub namespace_keep: Vec<String>,
    /// `lxc.rootfs.path` as written.
    pub rootfs_path: Option<String>,
    pub uts_name: Option<String>,
    /// `lxc.cgroup.<key>` (v1) settings.
    pub cgroup_v1: Vec<(String, String)>,
    /// `lxc.cgroup2.<key>` settings.
    pub cgroup_v2: Vec<(String, String)>,
    pub cap_drop: Vec<String>,
    pub cap_keep: Vec<String>,
    /// Everything else, in order.
    pub other: Vec<(String, String)>,
}

impl LxcConfig {
    /// Parse the text of a config file.
    pub fn parse(text: &str) -> Result<LxcConfig> {
        let mut c = LxcConfig::default();
        let mut keep_seen = false;
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                return Err(Error::Config(format!(
                    "lxc config line {}: expected key = value: {raw:?}",
                    n + 1
                )));
            };
            let (k, v) = (k.trim(), v.trim());
            match k {
                "lxc.init.cmd" | "lxc.init_cmd" => {
                    c.init_cmd = shlex::split(v).ok_or_else(|| {
                        Error::Config(format!("lxc config line {}: bad quoting in {v:?}", n + 1))
                    })?
                }
                "lxc.init.cwd" => c.init_cwd = Some(v.to_string()),
                "lxc.environment" => c.environment.push(v.to_string()),
                "lxc.mount.entry" => c.mount_entries.push(parse_mount_entry(v, n + 1)?),
                "lxc.mount.auto" => c.mount_auto.extend(v.split_whitespace().map(String::from)),
                "lxc.namespace.keep" => {
                    keep_seen = true;
                    c.namespace_keep
                        .extend(v.split_whitespace().map(String::from))
                }
                "lxc.rootfs.path" | "lxc.rootfs" => c.rootfs_path = Some(v.to_string()),
                "lxc.uts.name" | "lxc.utsname" => c.uts_name = Some(v.to_string()),
                "lxc.cap.drop" => c.cap_drop.extend(v.split_whitespace().map(String::from)),
                "lxc.cap.keep" => c.cap_keep.extend(v.split_whitespace().map(String::from)),
                _ => {
                    if let Some(key) = k.strip_prefix("lxc.cgroup2.") {
                        c.cgroup_v2.push((key.to_string(), v.to_string()));
                    } else if let Some(key) = k.strip_prefix("lxc.cgroup.") {
                        c.cgroup_v1.push((key.to_string(), v.to_string()));
                    } else {
                        c.other.push((k.to_string(), v.to_string()));
                    }
                }
            }
        }
        if c.init_cmd.is_empty() {
            c.init_cmd = vec!["/sbin/init".into()];
        }
        if !keep_seen {
            // LXC's own default is to unshare everything
            c.namespace_keep.clear();
        }
        Ok(c)
    }

    /// True if the container shares the host's namespace `ns`.
    pub fn keeps(&self, ns: &str) -> bool {
        self.namespace_keep.iter().any(|k| k == ns)
    }
}

fn parse_mount_entry(v: &str, line: usize) -> Result<MountEntry> {
    let f: Vec<&str> = v.split_whitespace().collect();
    if f.len() < 3 {
        return Err(Error::Config(format!(
            "lxc config line {line}: bad lxc.mount.entry {v:?}"
        )));
    }
    Ok(MountEntry {
        source: f[0].to_string(),
        target: f[1].trim_start_matches('/').to_string(),
        fstype: f[2].to_string(),
        options: f
            .get(3)
            .map(|o| o.split(',').map(String::from).collect())
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PVR_TEMPLATE: &str = r#"lxc.tty.max = 8
lxc.pty.max = 1024
lxc.cgroup.devices.allow = a
lxc.rootfs.path = overlayfs:/volumes/awesome-app/root.squashfs:/volumes/awesome-app/lxc-overlay/upper
lxc.init.cmd = /bin/sh "-c" "exec /usr/bin/awesome-app"
lxc.init.cwd = /srv
lxc.environment = PATH=/usr/sbin:/usr/bin:/sbin:/bin
lxc.mount.auto = proc sys:mixed cgroup:mixed
lxc.namespace.keep = user net ipc
lxc.mount.entry = /volumes/awesome-app/docker--etc-awesome-app etc/awesome-app none bind,rw,create=dir 0 0
lxc.cgroup2.memory.max = 64M
"#;

    #[test]
    fn parses_the_pvr_template_output() {
        let c = LxcConfig::parse(PVR_TEMPLATE).unwrap();
        assert_eq!(c.init_cmd, ["/bin/sh", "-c", "exec /usr/bin/awesome-app"]);
        assert_eq!(c.init_cwd.as_deref(), Some("/srv"));
        assert_eq!(c.environment, ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]);
        assert_eq!(c.mount_auto, ["proc", "sys:mixed", "cgroup:mixed"]);
        assert!(c.keeps("net") && c.keeps("ipc") && c.keeps("user") && !c.keeps("uts"));
        assert_eq!(c.mount_entries[0].target, "etc/awesome-app");
        assert!(c.mount_entries[0].is_bind());
        assert_eq!(c.mount_entries[0].create(), Some("dir"));
        assert_eq!(
            c.cgroup_v1,
            [("devices.allow".to_string(), "a".to_string())]
        );
        assert_eq!(c.cgroup_v2, [("memory.max".to_string(), "64M".to_string())]);
        assert_eq!(c.other.len(), 2);
    }

    #[test]
    fn defaults_and_errors() {
        let c = LxcConfig::parse("# nothing\n").unwrap();
        assert_eq!(c.init_cmd, ["/sbin/init"]);
        assert!(!c.keeps("net"));
        assert!(LxcConfig::parse("lxc.init.cmd /bin/sh").is_err());
        assert!(LxcConfig::parse("lxc.init.cmd = /bin/sh \"unterminated").is_err());
        assert!(LxcConfig::parse("lxc.mount.entry = onlyone").is_err());
    }
}
