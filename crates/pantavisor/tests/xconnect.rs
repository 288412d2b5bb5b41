//! The xconnect service mesh end to end (needs root): the graph of
//! `GET /xconnect-graph`, a required service without a provider rolling
//! an update back, the managed `pv-xconnect` daemon, and its links between
//! real containers.

#[path = "xconnect/bus.rs"]
mod bus;
mod device;
#[path = "xconnect/hosted.rs"]
mod hosted;

use std::path::{Path, PathBuf};

use bus::{method, string_at, Bus};
use device::{assert_clean, can_run, checkout, commit, edit_run_json, start, App, Device};
use serde_json::{json, Value};

const CONFIG: &str = "PV_SECUREBOOT_MODE=disabled\nPV_LOG_LEVEL=4\nPV_UPDATER_COMMIT_DELAY=1\nPV_UPDATER_GOALS_TIMEOUT=10\n";
/// A container exporting `system-bus` itself needs the hosted bus off
/// (the name is reserved while it is on).
const CONFIG_OWN_BUS: &str = "PV_SECUREBOOT_MODE=disabled\nPV_LOG_LEVEL=4\nPV_UPDATER_COMMIT_DELAY=1\nPV_UPDATER_GOALS_TIMEOUT=10\nPV_XCONNECT_DBUS_SYSTEMBUS_ENABLED=0\n";
// one process marker per test: the tests run in parallel and each checks
// that none of its own container processes is left
const MARKER_GRAPH: &str = "marker-xc-graph";
const MARKER_LINKS: &str = "marker-xc-links";
const MARKER_DBUS: &str = "marker-xc-dbus";

/// A provider `prov` (platform group) exporting `services`, and a consumer
/// `cons` (app group) with the `services` block `needs`.
fn mesh(d: &Path, services: Value, needs: Value) -> (PathBuf, Device) {
    std::fs::write(d.join("pantavisor.config"), CONFIG).unwrap();
    let script = format!("trap 'exit 0' TERM; while true; do sleep 1; done # {MARKER_GRAPH}");
    let prov = App::new("prov", "platform", &script);
    let cons = App::new("cons", "app", &script);
    let repo = checkout(d, &[prov, cons], |r| {
        let m = json!({"#spec": "service-manifest-xconnect@1", "services": services});
        std::fs::write(r.join("prov/services.json"), m.to_string()).unwrap();
        edit_run_json(r, "cons", |m| {
            m.insert("services".into(), needs);
        });
    });
    let dev = start(d, Some(&repo));
    assert!(dev.wait_log("status READY", 30));
    (repo, dev)
}

fn graph(dev: &Device) -> Vec<Value> {
    let (s, b) = dev.ctrl("GET", "/xconnect-graph", b"");
    assert_eq!(s, 200, "{b}");
    serde_json::from_str(&b).unwrap()
}

#[test]
fn graph_links_and_a_missing_required_service_rolls_back() {
    if !can_run() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let cfgdir = d.path().join("pvr-config");
    let (repo, mut dev) = mesh(
        d.path(),
        json!([{"name": "api", "type": "rest", "socket": "/run/api.sock"}]),
        json!({"required": [{"name": "api", "type": "rest", "target": "/run/pv/api.sock"}],
               "optional": [{"name": "gpu", "type": "drm", "target": "/dev/dri/card0"}]}),
    );
    let (_, raw) = dev.ctrl("GET", "/xconnect-graph", b"");
    let links = graph(&dev);
    assert_eq!(links.len(), 1, "{links:?}");
    let l = links[0].as_object().unwrap();
    // the original's members, in its order
    let order = [
        "consumer",
        "consumer_pid",
        "provider",
        "provider_pid",
        "name",
        "type",
        "role",
        "interface",
        "target",
        "socket",
    ];
    let at: Vec<usize> = order
        .iter()
        .map(|k| raw.find(&format!("\"{k}\":")).unwrap())
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{raw}");
    assert_eq!(l.len(), order.len(), "{raw}");
    assert_eq!(l["consumer"], "cons");
    assert_eq!(l["provider"], "prov");
    assert_eq!(l["socket"], "/run/api.sock");
    assert_eq!(l["role"], "any");
    assert_eq!(l["interface"], "rest");
    assert!(l["consumer_pid"].as_i64().unwrap() > 0);
    assert!(l["provider_pid"].as_i64().unwrap() > 0);

    // an update whose consumer requires what nobody exports fails and rolls back
    commit(&repo, &cfgdir, |r| {
        edit_run_json(r, "cons", |m| {
            m.insert(
                "services".into(),
                json!({"required": [{"name": "nope", "type": "unix", "target": "/run/nope.sock"}]}),
            );
        });
    });
    let bad = dev.upload(&repo, &cfgdir, "missing");
    assert_eq!(dev.run_local(&bad).0, 200);
    assert_eq!(dev.wait_exit(30), Some(0), "the failed update reboots");
    let p = dev.progress(&bad);
    assert!(
        p.contains(r#""status":"ERROR","status-msg":"A container could not be started""#),
        "{p}"
    );
    assert!(dev.wait_log("cons requires nope", 1));
    let dev = start(d.path(), None);
    assert!(dev.wait_log("status READY", 30));
    assert_eq!(dev.boot_env(), ("0".to_string(), String::new()));
    assert_eq!(graph(&dev).len(), 1);
    assert_eq!(dev.stop(), 0);
    assert_clean(d.path(), MARKER_GRAPH);
}

// ---- helpers acting inside the containers' mount namespaces ----

/// Run `f` as a process of container `pid` would see paths: on a thread
/// that joined the container's mount namespace.
fn in_ns<T: Send + 'static>(pid: i64, f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        use nix::sched::{setns, unshare, CloneFlags};
        unshare(CloneFlags::CLONE_FS).unwrap();
        let ns = std::fs::File::open(format!("/proc/{pid}/ns/mnt")).unwrap();
        setns(ns, CloneFlags::CLONE_NEWNS).unwrap();
        f()
    })
    .join()
    .unwrap()
}

/// The pids of a link's consumer and provider, once both run in their own
/// roots (before its pivot, a container's `/proc/<pid>/root` is the host's).
fn pids(dev: &Device, name: &str) -> (i64, i64) {
    use pv_xconnect::paths::has_own_root;
    let mut out = (0, 0);
    assert!(
        device::wait(20, || {
            graph(dev).iter().any(|l| {
                out = (
                    l["consumer_pid"].as_i64().unwrap_or(0),
                    l["provider_pid"].as_i64().unwrap_or(0),
                );
                l["name"] == name
                    && out.0 > 0
                    && out.1 > 0
                    && has_own_root(out.0 as i32)
                    && has_own_root(out.1 as i32)
            })
        }),
        "{name} has no running link"
    );
    out
}

/// Wait for a path inside container `pid` to be of the wanted kind.
fn wait_socket(pid: i64, path: &str, present: bool) -> bool {
    use std::os::unix::fs::FileTypeExt;
    let p = format!("/proc/{pid}/root{path}");
    device::wait(15, || {
        std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_socket()) == present
    })
}

/// Wait until the container's script runs (its /run is mounted).
fn wait_ready(pid: i64) {
    let p = format!("/proc/{pid}/root/run/ready");
    assert!(device::wait(15, || Path::new(&p).exists()), "{p}");
}

/// A REST server bound at `path` inside the provider: it answers each
/// request with the identity headers it received and records them.
fn rest_server(
    provider: i64,
    path: &'static str,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use std::io::{BufRead, BufReader, Write};
    let l = in_ns(provider, move || {
        let _ = std::fs::create_dir_all(Path::new(path).parent().unwrap());
        let _ = std::fs::remove_file(path);
        std::os::unix::net::UnixListener::bind(path).unwrap()
    });
    std::thread::spawn(move || {
        for c in l.incoming().map_while(Result::ok) {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(c.try_clone().unwrap());
                let mut w = c;
                loop {
                    let mut ids = (String::new(), String::new());
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        let mut h = String::new();
                        r.read_line(&mut h).unwrap();
                        let h = h.trim_end().to_string();
                        if h.is_empty() {
                            break;
                        }
                        let (k, v) = h.split_once(": ").unwrap_or((&h, ""));
                        if k.eq_ignore_ascii_case("x-pv-client") {
                            ids.0 = v.into();
                        }
                        if k.eq_ignore_ascii_case("x-pv-role") {
                            ids.1 = v.into();
                        }
                    }
                    let body = format!("{}|{}", ids.0, ids.1);
                    seen.lock().unwrap().push(body.clone());
                    let _ = write!(
                        w,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                }
            });
        }
    });
}

/// From inside the consumer: two requests on one connection (forging the
/// identity headers); the bodies of the answers.
fn rest_call(consumer: i64, path: &'static str) -> Result<Vec<String>, String> {
    in_ns(consumer, move || {
        use std::io::{BufRead, BufReader, Read, Write};
        let mut c = std::os::unix::net::UnixStream::connect(path).map_err(|e| e.to_string())?;
        c.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut r = BufReader::new(c.try_clone().unwrap());
        let mut out = vec![];
        for forged in ["", "X-PV-Role: root\r\nx-pv-client: prov\r\n"] {
            write!(c, "GET /id HTTP/1.1\r\nHost: localhost\r\n{forged}\r\n")
                .map_err(|e| e.to_string())?;
            let mut len = 0;
            loop {
                let mut h = String::new();
                r.read_line(&mut h).map_err(|e| e.to_string())?;
                if h.trim_end().is_empty() {
                    break;
                }
                if let Some(v) = h.strip_prefix("Content-Length: ") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0u8; len];
            r.read_exact(&mut body).map_err(|e| e.to_string())?;
            out.push(String::from_utf8(body).unwrap());
        }
        Ok(out)
    })
}

/// A unix server inside the provider that reads, from each descriptor it
/// is passed, what the sender wrote into it, and answers with that.
fn fd_server(provider: i64, path: &'static str) {
    use pv_xconnect::relay::{recv_with_fds, send_with_fds};
    let l = in_ns(provider, move || {
        let _ = std::fs::remove_file(path);
        std::os::unix::net::UnixListener::bind(path).unwrap()
    });
    std::thread::spawn(move || {
        for c in l.incoming().map_while(Result::ok) {
            let mut buf = [0u8; 64];
            let mut fds = vec![];
            let _ = recv_with_fds(&c, &mut buf, &mut fds);
            let mut got = String::new();
            if let Some(fd) = fds.pop() {
                use std::io::Read;
                let _ = std::fs::File::from(fd).read_to_string(&mut got);
            }
            let _ = send_with_fds(&c, got.as_bytes(), &[]);
        }
    });
}

/// From inside the consumer: pass a pipe across the link.
fn fd_call(consumer: i64, path: &'static str) -> Result<String, String> {
    in_ns(consumer, move || {
        use pv_xconnect::relay::{recv_with_fds, send_with_fds};
        use std::io::Write;
        let c = std::os::unix::net::UnixStream::connect(path).map_err(|e| e.to_string())?;
        let (r, mut w) = std::io::pipe().unwrap();
        send_with_fds(&c, b"p", &[std::os::fd::OwnedFd::from(r)]).map_err(|e| e.to_string())?;
        w.write_all(b"sent through a passed pipe").unwrap();
        drop(w);
        let mut buf = [0u8; 64];
        let n = recv_with_fds(&c, &mut buf, &mut vec![]).map_err(|e| e.to_string())?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    })
}

fn daemons(dev: &Device) -> Vec<Value> {
    let (s, b) = dev.ctrl("GET", "/daemons", b"");
    assert_eq!(s, 200, "{b}");
    serde_json::from_str(&b).unwrap()
}

/// The pid `GET /daemons` shows for the managed daemon `name`.
fn daemon_pid(dev: &Device, name: &str) -> i64 {
    daemons(dev)
        .iter()
        .find(|d| d["name"] == name)
        .map(|d| d["pid"].as_i64().unwrap())
        .unwrap()
}

fn xconnect_pid(dev: &Device) -> i64 {
    daemon_pid(dev, "pv-xconnect")
}

/// SIGKILL the managed daemon `name` (pid `pid`) and wait until the
/// runtime has started it again (after its 5 s delay).
fn kill_and_await_respawn(dev: &Device, name: &str, pid: i64) -> bool {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    device::wait(12, || {
        let p = daemon_pid(dev, name);
        p > 0 && p != pid
    })
}

#[test]
fn links_rest_unix_drm_daemons_and_provider_updates() {
    if !can_run() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let cfgdir = d.path().join("pvr-config");
    std::fs::write(d.path().join("pantavisor.config"), CONFIG).unwrap();
    let script = format!(
        "touch /run/ready; trap 'exit 0' TERM; while true; do sleep 1; done # {MARKER_LINKS}"
    );
    // both in the app group: an update of the provider does not reboot
    let prov = App::new("prov", "app", &script);
    let cons = App::new("cons", "app", &script);
    let repo = checkout(d.path(), &[prov, cons], |r| {
        let m = json!({"#spec": "service-manifest-xconnect@1", "services": [
            {"name": "api", "type": "rest", "socket": "/run/api.sock"},
            {"name": "fds", "type": "unix", "socket": "/run/fd.sock"},
            {"name": "gpu", "type": "drm", "socket": "/dev/zero"}
        ]});
        std::fs::write(r.join("prov/services.json"), m.to_string()).unwrap();
        edit_run_json(r, "cons", |m| {
            m.insert(
                "services".into(),
                json!({"required": [
                    {"name": "api", "type": "rest", "target": "/run/pv/api.sock", "role": "admin"},
                    {"name": "fds", "type": "unix", "target": "/run/pv/fd.sock"}],
                 "optional": [{"name": "gpu", "type": "drm", "target": "/dev/dri/card0"}]}),
            );
        });
    });
    let dev = start(d.path(), Some(&repo));
    assert!(dev.wait_log("status READY", 30));
    let (cons, prov) = pids(&dev, "api");
    wait_ready(prov);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(vec![]));
    rest_server(prov, "/run/api.sock", seen.clone());
    fd_server(prov, "/run/fd.sock");
    assert!(
        wait_socket(cons, "/run/pv/api.sock", true),
        "rest link injected"
    );
    assert!(
        wait_socket(cons, "/run/pv/fd.sock", true),
        "unix link injected"
    );

    // rest: the provider sees who calls; a forged role is replaced
    let answers = rest_call(cons, "/run/pv/api.sock").unwrap();
    assert_eq!(answers, ["cons|admin", "cons|admin"]);
    assert_eq!(seen.lock().unwrap().len(), 2);
    // unix: a descriptor crosses the proxy
    assert_eq!(
        fd_call(cons, "/run/pv/fd.sock").unwrap(),
        "sent through a passed pipe"
    );
    // drm: the device node, with the provider's device number
    {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let node = format!("/proc/{cons}/root/dev/dri/card0");
        assert!(device::wait(10, || std::path::Path::new(&node).exists()));
        let m = std::fs::symlink_metadata(&node).unwrap();
        assert!(m.file_type().is_char_device());
        assert_eq!(m.rdev(), std::fs::metadata("/dev/zero").unwrap().rdev());
    }

    // managed daemons: listed, stopped (links torn down), started again
    let list = daemons(&dev);
    assert!(list.iter().any(|d| d["name"] == "hwrngd" && d["pid"] == 0));
    let first = xconnect_pid(&dev);
    assert!(first > 0);
    let (s, b) = dev.ctrl("PUT", "/daemons/pv-xconnect", br#"{"action":"stop"}"#);
    assert_eq!(s, 200, "{b}");
    let x = daemons(&dev);
    let x = x.iter().find(|d| d["name"] == "pv-xconnect").unwrap();
    assert_eq!(
        (x["pid"].as_i64(), x["respawn"].as_bool()),
        (Some(-1), Some(false))
    );
    assert!(
        wait_socket(cons, "/run/pv/api.sock", false),
        "links torn down"
    );
    assert!(!std::path::Path::new(&format!("/proc/{cons}/root/dev/dri/card0")).exists());
    assert_eq!(
        dev.ctrl("PUT", "/daemons/nope", br#"{"action":"stop"}"#).0,
        404
    );
    // nothing in this revision uses the hosted bus: its daemon is not
    // started (it would exit and respawn every 5 s), and the answer says so
    let (s, b) = dev.ctrl("PUT", "/daemons/pv-dbus", br#"{"action":"start"}"#);
    assert_eq!(s, 409, "{b}");
    assert!(b.contains("Daemon not needed"), "{b}");
    let bus = daemons(&dev);
    let bus = bus.iter().find(|d| d["name"] == "pv-dbus").unwrap();
    assert_eq!(
        (bus["pid"].as_i64(), bus["respawn"].as_bool()),
        (Some(0), Some(false))
    );
    let (s, _) = dev.ctrl("PUT", "/daemons/pv-xconnect", br#"{"action":"start"}"#);
    assert_eq!(s, 200);
    let second = xconnect_pid(&dev);
    assert!(second > 0 && second != first);
    assert!(wait_socket(cons, "/run/pv/api.sock", true), "links back");
    assert_eq!(
        rest_call(cons, "/run/pv/api.sock").unwrap()[0],
        "cons|admin"
    );
    // a daemon that dies is started again (after its 5 s delay)
    assert!(
        kill_and_await_respawn(&dev, "pv-xconnect", second),
        "respawned"
    );

    // a non-reboot update replaces the provider: the link follows it
    commit(&repo, &cfgdir, |r| {
        std::fs::create_dir_all(r.join("_config/prov/etc")).unwrap();
        std::fs::write(r.join("_config/prov/etc/motd"), "v2\n").unwrap();
    });
    let rev = dev.upload(&repo, &cfgdir, "prov2");
    assert_eq!(dev.run_local(&rev).0, 200);
    assert!(
        dev.wait_progress(&rev, "UPDATED", 40),
        "{}",
        dev.progress(&rev)
    );
    let (cons2, prov2) = pids(&dev, "api");
    assert_eq!(cons2, cons, "the consumer was not restarted");
    assert_ne!(prov2, prov);
    wait_ready(prov2);
    rest_server(prov2, "/run/api.sock", seen.clone());
    assert!(
        device::wait(15, || rest_call(cons, "/run/pv/api.sock")
            .is_ok_and(|a| a[0] == "cons|admin")),
        "the consumer's next call reaches the new provider"
    );
    let ctrl = dev.socket();
    assert_eq!(dev.stop(), 0);
    assert_clean(d.path(), MARKER_LINKS);
    assert!(
        device::wait(5, || device::processes_with(&ctrl.display().to_string())
            == 0),
        "pv-xconnect left running"
    );
}

// ---- D-Bus: a real dbus-daemon from Debian inside the provider ----

/// Copy `bin` and the libraries it links into `rootfs` (same paths).
fn copy_with_libs(bin: &str, rootfs: &Path) {
    let out = std::process::Command::new("ldd").arg(bin).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut files = vec![bin.to_string()];
    for l in text.lines() {
        let path = match l.split_once("=>") {
            Some((_, r)) => r.split_whitespace().next(),
            None => l.split_whitespace().next().filter(|p| p.starts_with('/')),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            files.push(p.to_string());
        }
    }
    for f in files {
        let to = rootfs.join(f.trim_start_matches('/'));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&f, &to).unwrap();
    }
}

const BUS_CONF: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"#;

/// Shows a container's console (the bus's own reasons: `--nosyslog`) when
/// the test fails.
struct ConsoleOnFailure<'a>(&'a Device, &'static str);

impl Drop for ConsoleOnFailure<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("console of {}:\n{}", self.1, self.0.console("0", self.1));
        }
    }
}

#[test]
fn dbus_identity_and_interface_filter() {
    if !can_run() || !pv_testkit::require_tools(&["/usr/bin/dbus-daemon", "ldd"]) {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("pantavisor.config"), CONFIG_OWN_BUS).unwrap();
    // the image: busybox (added by checkout) and Debian's dbus-daemon
    let rootfs = d.path().join("rootfs");
    copy_with_libs("/usr/bin/dbus-daemon", &rootfs);
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\npvuser:x:1000:1000::/:/bin/false\n",
    )
    .unwrap();
    std::fs::write(rootfs.join("etc/pv-test-bus.conf"), BUS_CONF).unwrap();
    std::fs::write(
        rootfs.join("etc/machine-id"),
        "0123456789abcdef0123456789abcdef\n",
    )
    .unwrap();
    let bus_script = format!(
        "mkdir -p /run/dbus; exec /usr/bin/dbus-daemon --nofork --nopidfile --nosyslog --config-file=/etc/pv-test-bus.conf # {MARKER_DBUS}"
    );
    let idle = format!(
        "touch /run/ready; trap 'exit 0' TERM; while true; do sleep 1; done # {MARKER_DBUS}"
    );
    let prov = App::new("prov", "app", &bus_script);
    let cons = App::new("cons", "app", &idle);
    let repo = checkout(d.path(), &[prov, cons], |r| {
        let m = json!({"#spec": "service-manifest-xconnect@1", "services": [
            {"name": "system-bus", "type": "dbus", "socket": "/run/dbus/system_bus_socket"}
        ]});
        std::fs::write(r.join("prov/services.json"), m.to_string()).unwrap();
        edit_run_json(r, "cons", |m| {
            m.insert(
                "services".into(),
                json!({"required": [{"name": "system-bus", "type": "dbus", "role": "pvuser",
                    "interface": "org.pv.Allowed", "target": "/run/dbus/system_bus_socket"}]}),
            );
        });
    });
    let dev = start(d.path(), Some(&repo));
    let bus_log = ConsoleOnFailure(&dev, "prov");
    assert!(dev.wait_log("status READY", 30));
    let (cons, prov) = pids(&dev, "system-bus");
    wait_ready(cons);
    assert!(
        wait_socket(prov, "/run/dbus/system_bus_socket", true),
        "bus up"
    );

    // the service: on the provider's bus directly, as root
    let s = in_ns(prov, || {
        std::os::unix::net::UnixStream::connect("/run/dbus/system_bus_socket").unwrap()
    });
    let (mut service, _) = Bus::open(s);
    let m = zbus::Message::method_call("/org/freedesktop/DBus", "RequestName")
        .unwrap()
        .destination("org.freedesktop.DBus")
        .unwrap()
        .interface("org.freedesktop.DBus")
        .unwrap()
        .build(&("org.pv.Test", 0u32))
        .unwrap();
    let (h, _) = service.call(&m);
    assert_eq!(h.kind, zbus::message::Type::MethodReturn);
    let served = std::sync::Arc::new(std::sync::Mutex::new(vec![]));
    let s2 = served.clone();
    // (it ends when the bus stops with the device)
    std::thread::spawn(move || {
        while let Some((h, _, msg)) = service.next() {
            if h.kind != zbus::message::Type::MethodCall {
                continue;
            }
            let iface = h.interface.clone().unwrap_or_default();
            s2.lock().unwrap().push(iface.clone());
            let r = pv_xconnect::dbus::with_header(&msg, |h| {
                zbus::Message::method_return(h)
                    .unwrap()
                    .build(&(format!("pong from {iface}"),))
                    .unwrap()
            })
            .unwrap();
            service.send(&r);
        }
    });

    // the consumer, through the injected socket
    assert!(
        wait_socket(cons, "/run/dbus/system_bus_socket", true),
        "dbus link injected"
    );
    let c = in_ns(cons, || {
        std::os::unix::net::UnixStream::connect("/run/dbus/system_bus_socket").unwrap()
    });
    let (mut client, me) = Bus::open(c);
    // the bus knows the consumer as the role's uid, whatever it claimed
    let m = zbus::Message::method_call("/org/freedesktop/DBus", "GetConnectionUnixUser")
        .unwrap()
        .destination("org.freedesktop.DBus")
        .unwrap()
        .interface("org.freedesktop.DBus")
        .unwrap()
        .build(&(me.as_str(),))
        .unwrap();
    let (h, body) = client.call(&m);
    assert_eq!(h.kind, zbus::message::Type::MethodReturn);
    assert_eq!(u32::from_le_bytes(body[..4].try_into().unwrap()), 1000);
    // the allowed interface is answered by the service
    let (h, body) = client.call(
        &method("org.pv.Test", "org.pv.Allowed", "Ping")
            .build(&())
            .unwrap(),
    );
    assert_eq!(h.kind, zbus::message::Type::MethodReturn);
    assert_eq!(string_at(&body, 0), "pong from org.pv.Allowed");
    // another interface is refused by the mesh and never reaches it
    let (h, _) = client.call(
        &method("org.pv.Test", "org.pv.Denied", "Ping")
            .build(&())
            .unwrap(),
    );
    assert_eq!(h.kind, zbus::message::Type::Error);
    assert_eq!(
        h.error_name.as_deref(),
        Some("org.freedesktop.DBus.Error.AccessDenied")
    );
    assert_eq!(*served.lock().unwrap(), ["org.pv.Allowed"]);
    drop((client, bus_log));
    assert_eq!(dev.stop(), 0);
    assert_clean(d.path(), MARKER_DBUS);
}
