//! The runtime under test: spawning and stopping it, control calls and
//! probes of its live and stored state.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::device;

pub(crate) fn spawn(root: &Path, fault: Option<&str>, log: Option<&Path>) -> Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pantavisor"));
    c.arg("--storage")
        .arg(root.join("storage"))
        .arg("--run-dir")
        .arg(root.join("run"));
    c.arg("--config").arg(root.join("pantavisor.config")).args([
        "--cmdline",
        "",
        "--tick-ms",
        "10",
    ]);
    c.env("NO_COLOR", "1")
        .env_remove("PV_FAULT")
        .env_remove("PV_FAULT_LOG")
        .stdout(Stdio::null());
    if std::env::var_os("PV_CRASH_VERBOSE").is_none() {
        c.stderr(Stdio::null());
    }
    if let Some(f) = fault {
        c.env("PV_FAULT", f);
    }
    if let Some(l) = log {
        c.env("PV_FAULT_LOG", l);
    }
    c.spawn().unwrap()
}

pub(crate) fn ctrl(root: &Path, method: &str, path: &str, body: &[u8]) -> Option<u16> {
    device::http::request(&root.join("run/pv-ctrl"), method, path, body)
        .ok()
        .map(|(s, _)| s)
}

pub(crate) fn status_file(root: &Path) -> PathBuf {
    root.join("run/device-meta/pantavisor.status")
}

/// The live instance runs its revision: READY, every container started
/// and its init past `trap` (a SIGTERM that reaches a namespace's init
/// before it set a handler is ignored, and a stop would wait 5 s).
pub(crate) fn ready(root: &Path) -> bool {
    // a start may show the status of the previous instance for a moment
    if !std::fs::read_to_string(status_file(root)).is_ok_and(|s| s == "READY") {
        return false;
    }
    let Ok((200, body)) =
        device::http::request(&root.join("run/pv-ctrl"), "GET", "/containers", b"")
    else {
        return false;
    };
    let list: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap_or_default();
    !list.is_empty()
        && list.iter().all(|c| {
            matches!(
                c.get("status").and_then(|s| s.as_str()),
                Some("STARTED" | "READY")
            )
        })
        && inits_trap_term(root, list.len())
}

/// Every container of the device has an init (pid 1 of its namespace) that
/// catches SIGTERM.
fn inits_trap_term(root: &Path, containers: usize) -> bool {
    let base =
        pv_runtime::layout::Layout::new(&root.join("storage"), &root.join("run")).cgroup_base();
    let Some(dir) = pv_container::cgroup::detect()
        .into_iter()
        .map(|h| h.mount.join(&base))
        .find(|d| d.is_dir())
    else {
        return false;
    };
    let mut inits = 0;
    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let procs = std::fs::read_to_string(e.path().join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines() {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let field = |k: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(k))
                    .map(|v| v.trim().to_string())
                    .unwrap_or_default()
            };
            if field("NSpid:").split_whitespace().last() != Some("1") {
                continue;
            }
            let caught = u64::from_str_radix(&field("SigCgt:"), 16).unwrap_or(0);
            if caught & (1 << 14) == 0 {
                return false;
            }
            inits += 1;
        }
    }
    inits >= containers
}

pub(crate) fn progress_status(storage: &Path, rev: &str) -> String {
    let text =
        std::fs::read(storage.join("trails").join(rev).join(".pv/progress")).unwrap_or_default();
    serde_json::from_slice::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("status").and_then(|s| s.as_str()).map(String::from))
        .unwrap_or_default()
}

pub(crate) fn current(storage: &Path) -> String {
    std::fs::read_link(storage.join("trails/current"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The update of `rev` is over: final progress, and after a failure the
/// device is back on another revision.
pub(crate) fn update_settled(storage: &Path, rev: &str) -> bool {
    match progress_status(storage, rev).as_str() {
        "DONE" | "UPDATED" => true,
        "ERROR" | "WONTGO" => current(storage) != rev,
        _ => false,
    }
}

pub(crate) fn final_or_running(status: &str) -> bool {
    matches!(
        status,
        "DONE" | "UPDATED" | "ERROR" | "WONTGO" | "INPROGRESS" | "TESTING"
    )
}

/// Mount points under `dir` (deepest first).
pub(crate) fn mountpoints_under(dir: &Path) -> Vec<String> {
    let d = dir.to_string_lossy().into_owned();
    let mut v: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(String::from))
        .filter(|m| m.starts_with(&d))
        .collect();
    v.sort_by_key(|m| std::cmp::Reverse(m.len()));
    v
}

/// Upload objects and step; true if all were accepted.
pub(crate) fn upload(root: &Path, rev: &str, objects: &[(String, Vec<u8>)], state: &[u8]) -> bool {
    objects
        .iter()
        .all(|(sha, data)| ctrl(root, "PUT", &format!("/objects/{sha}"), data) == Some(200))
        && ctrl(root, "PUT", &format!("/steps/{rev}"), state) == Some(200)
}

pub(crate) fn local_run(root: &Path, rev: &str) -> bool {
    ctrl(
        root,
        "POST",
        "/commands",
        format!(r#"{{"op":"LOCAL_RUN","payload":"{rev}"}}"#).as_bytes(),
    ) == Some(200)
}

pub(crate) fn stop(mut c: Child) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(c.id() as i32),
        nix::sys::signal::SIGTERM,
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if c.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = c.kill();
    let _ = c.wait();
}
