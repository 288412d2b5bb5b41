//! `lxc.container.conf` of the `builtin-lxc-docker` template: one line per
//! setting, in the template's order, ending with a newline. Data-only
//! containers get no file ([`render_lxc_conf`] returns `None`).

use serde_json::Value;

use crate::template::{items, mount_target, text, truthy, volume_name, TemplateInput};

/// The lxc.container.conf text, or `None` for a data-only container.
pub fn render_lxc_conf(t: &TemplateInput) -> Option<String> {
    if t.is_data() {
        return None;
    }
    let n = &t.name;
    let mut l: Vec<String> = vec![];
    l.push(format!("lxc.tty.max = {}", t.arg_or("LXC_TTY_MAX", "8")));
    l.push(format!("lxc.pty.max = {}", t.arg_or("LXC_PTY_MAX", "1024")));
    if t.arg_true("PV_DEBUG_MODE") {
        l.push(format!("lxc.log.file = /pv/logs/{n}.log"));
    }
    let white = items(t.arg("PVR_LXC_CGROUP_DEVICES_WHITE"));
    if white.is_empty() {
        l.push("lxc.cgroup.devices.allow = a".into());
    } else {
        l.push("lxc.cgroup.devices.deny = a".into());
        l.extend(
            white
                .iter()
                .map(|w| format!("lxc.cgroup.devices.allow = {w}")),
        );
    }
    for c in items(t.arg("PVR_LXC_CGROUP_V1")) {
        l.push(format!("lxc.cgroup.{c}"));
    }
    l.push(format!("lxc.rootfs.path = overlayfs:{}", rootfs_lowers(t)));
    l.push(format!("lxc.init.cmd ={}", init_cmd(t)));
    if let Some(Value::String(wd)) = t.docker("WorkingDir") {
        if !wd.is_empty() {
            l.push(format!("lxc.init.cwd = {wd}"));
        }
    }
    for e in items(t.docker("Env"))
        .into_iter()
        .chain(items(t.arg("PV_LXC_EXTRA_ENV")))
    {
        l.push(format!("lxc.environment = {e}"));
    }
    l.push(format!("lxc.namespace.keep = {}", namespace_keep(t)));
    if t.arg_true("PV_LXC_DISABLE_CONSOLE") {
        l.push("lxc.console.path = none".into());
    }
    l.push(format!(
        "lxc.mount.auto = {} {} {}",
        t.arg_or("LXC_MOUNT_AUTO_PROC", "proc"),
        t.arg_or("LXC_MOUNT_AUTO_SYS", "sys:rw"),
        t.arg_or("LXC_MOUNT_AUTO_GROUP", "cgroup")
    ));
    if t.arg_true("PV_DISABLE_AUTODEV") {
        l.push("lxc.autodev = 0".into());
    }
    for (key, line) in [
        (
            "PV_SECURITY_FULLDEV",
            "lxc.mount.entry = /dev/ dev none bind,rw,create=dir 0 0",
        ),
        (
            "PV_SECURITY_WITH_HOST",
            "lxc.mount.entry = / host none bind,rw,create=dir 0 0",
        ),
        (
            "PV_SECURITY_WITH_HOSTPROC",
            "lxc.mount.entry = /proc/ host/proc none bind,rw,create=dir 0 0",
        ),
        (
            "PV_SECURITY_WITH_STORAGE",
            "lxc.mount.entry = /storage storage none bind,rw,create=dir 0 0",
        ),
    ] {
        if t.arg_true(key) {
            l.push(line.into());
        }
    }
    if !t.arg_true("PV_RESOLV_CONF_DISABLE") {
        l.push(format!(
            "lxc.mount.entry = /etc/resolv.conf {} none bind,rw,create=file 0 0",
            t.arg_or("PV_RESOLV_CONF_PATH", "etc/resolv.conf")
        ));
    }
    if !t.arg_true("PV_RUN_TMPFS_DISABLE") {
        l.push(format!(
            "lxc.mount.entry = tmpfs {} tmpfs rw,nodev,relatime,create=dir,mode=755 0 0",
            t.arg_or("PV_RUN_TMPFS_PATH", "run")
        ));
    }
    for key in t.storage().keys().filter(|k| *k != "lxc-overlay") {
        l.push(format!(
            "lxc.mount.entry = /volumes/{n}/{} {} none bind,rw,create=dir 0 0",
            volume_name(key),
            mount_target(key)
        ));
    }
    for imp in items(t.arg("PV_VOLUME_IMPORTS")) {
        if let Some(line) = volume_import(&imp) {
            l.push(line);
        }
    }
    for c in items(t.arg("PV_LXC_CAP_DROP")) {
        l.push(format!("lxc.cap.drop = {}", c.to_lowercase()));
    }
    for c in items(t.arg("PV_LXC_CAP_KEEP")) {
        l.push(format!("lxc.cap.keep = {}", c.to_lowercase()));
    }
    network(t, &mut l);
    if t.arg_true("PV_LXC_EXTRA_CONF") {
        l.push(t.arg_or("PV_LXC_EXTRA_CONF", ""));
    }
    for (k, v) in comma_pairs(t, "PV_FILEIMPORTS") {
        l.push(format!(
            "lxc.mount.entry = /exports/{k} {v} none bind,rw,create=file 0 0"
        ));
    }
    for (k, v) in comma_pairs(t, "PV_IMPORT_CONFIGVOLUMES") {
        l.push(format!(
            "lxc.mount.entry = /volumes/{k}/{n} {v} none bind,rw,create=dir,optional,noexec 0 0"
        ));
    }
    for (k, v) in comma_pairs(t, "PV_VOLUME_MOUNTS") {
        l.push(format!(
            "lxc.mount.entry = /volumes/{n}/{k} {v} none bind,rw,create=dir 0 0"
        ));
    }
    let mut out = l.join("\n");
    out.push('\n');
    Some(out)
}

/// `[/volumes/<n>/root.ovl.squashfs:]/volumes/<n|base>/root.squashfs:/volumes/<n>/lxc-overlay/upper`
fn rootfs_lowers(t: &TemplateInput) -> String {
    let n = &t.name;
    let base = t.src.str("base").unwrap_or(n);
    let ovl = if t.has_ovl() {
        format!("/volumes/{n}/root.ovl.squashfs:")
    } else {
        String::new()
    };
    format!("{ovl}/volumes/{base}/root.squashfs:/volumes/{n}/lxc-overlay/upper")
}

/// The text after `lxc.init.cmd =`: Entrypoint (first word bare, the rest
/// quoted) followed by the Cmd words quoted; else Cmd (first bare); else
/// `/sbin/init`. A string Entrypoint or Cmd is used as it is.
fn init_cmd(t: &TemplateInput) -> String {
    let ep = t.docker("Entrypoint").filter(|v| truthy(Some(v)));
    let cmd = t.docker("Cmd").filter(|v| truthy(Some(v)));
    let mut s = String::new();
    let words = |v: &Value, s: &mut String, quote_first: bool| match v {
        Value::Array(a) => {
            for (i, w) in a.iter().enumerate() {
                if i == 0 && !quote_first {
                    if truthy(Some(w)) {
                        s.push(' ');
                        s.push_str(&text(w));
                    } else {
                        return false;
                    }
                } else {
                    s.push_str(&format!(" \"{}\"", text(w)));
                }
            }
            true
        }
        other => {
            if quote_first {
                s.push_str(&format!(" \"{}\"", text(other)));
            } else {
                s.push(' ');
                s.push_str(&text(other));
            }
            true
        }
    };
    match (ep, cmd) {
        (Some(ep @ Value::Array(_)), cmd) => {
            if words(ep, &mut s, false) {
                if let Some(c) = cmd {
                    words(c, &mut s, true);
                }
            }
        }
        (Some(ep), _) => {
            words(ep, &mut s, false);
        }
        (None, Some(c)) => {
            words(c, &mut s, false);
        }
        (None, None) => s.push_str(" /sbin/init"),
    }
    s
}

/// `PV_LXC_NAMESPACE_KEEP`, else `user net ipc` (`user ipc` when the
/// network type is set to something other than `host`).
fn namespace_keep(t: &TemplateInput) -> String {
    if t.arg_true("PV_LXC_NAMESPACE_KEEP") {
        return t.arg_or("PV_LXC_NAMESPACE_KEEP", "");
    }
    let net = match t.arg("PV_LXC_NETWORK_TYPE").filter(|v| truthy(Some(v))) {
        Some(v) => text(v) == "host",
        None => true,
    };
    if net {
        "user net ipc".into()
    } else {
        "user ipc".into()
    }
}

fn network(t: &TemplateInput, l: &mut Vec<String>) {
    if !t.arg_true("PV_LXC_NETWORK_TYPE") {
        return;
    }
    match t.arg_or("PV_LXC_NETWORK_TYPE", "").as_str() {
        "empty" => l.push("lxc.net.0.type = empty".into()),
        "phys" => {
            l.push("lxc.net.0.type = phys".into());
            l.push(format!(
                "lxc.net.0.link ={}",
                t.arg_or("PV_LXC_NETWORK_LINK", "")
            ));
        }
        "veth" => {
            l.push("lxc.net.0.type = veth".into());
            l.push("lxc.net.0.link = lxcbr0".into());
            l.push("lxc.net.0.flags = up".into());
            if t.arg_true("PV_LXC_NETWORK_IPV4_ADDRESS") {
                l.push(format!(
                    "lxc.net.0.ipv4.address = {}",
                    t.arg_or("PV_LXC_NETWORK_IPV4_ADDRESS", "")
                ));
                l.push(format!(
                    "lxc.net.0.ipv4.gateway = {}",
                    t.arg_or("PV_LXC_NETWORK_IPV4_GATEWAY", "auto")
                ));
            }
        }
        _ => {}
    }
}

/// `a:b,c:d` → `[(a, b), (c, d)]` (first and last `:` field of each item).
fn comma_pairs(t: &TemplateInput, key: &str) -> Vec<(String, String)> {
    if !t.arg_true(key) {
        return vec![];
    }
    t.arg_or(key, "")
        .split(',')
        .map(|item| {
            let first = item.split(':').next().unwrap_or("");
            let last = item.rsplit(':').next().unwrap_or("");
            (first.to_string(), last.to_string())
        })
        .collect()
}

/// One `PV_VOLUME_IMPORTS` item `<container>:[<subdir>@]<volume>:<dest>[:<flags>]`
/// as a bind mount of `/volumes/<container>/<volume name>[/<subdir>]`.
pub fn volume_import(item: &str) -> Option<String> {
    let parts: Vec<&str> = item.split(':').collect();
    if parts.len() < 3 {
        return None;
    }
    let (cont, vol, dest) = (parts[0], parts[1], parts[2]);
    let flags = parts.get(3).copied().unwrap_or("rw");
    let (sub, vol) = match vol.split_once('@') {
        Some((s, v)) => (Some(s), v),
        None => (None, vol),
    };
    let mut src = format!("/volumes/{cont}/{}", volume_name(vol));
    if let Some(s) = sub {
        src.push('/');
        src.push_str(s);
    }
    let dest = dest.strip_prefix('/').unwrap_or(dest);
    Some(format!(
        "lxc.mount.entry = {src} {dest} none bind,{flags},create=dir 0 0"
    ))
}
