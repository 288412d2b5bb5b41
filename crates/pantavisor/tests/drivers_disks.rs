//! Managed drivers and disks in a running device (needs root).
//!
//! Drivers: `GET /drivers` and `PUT /drivers/...` asked from inside a
//! container (a process moved into its cgroups), and a required driver
//! that cannot be loaded failing an update like a failed container. This
//! host's kernel has no module support, so loads fail here with a clear
//! log line; loading for real (`dummy`) is in `scripts/vm-test.sh`.
//! Disks: a directory disk that a volume lands on, and a zram swap disk
//! that is on while the revision runs and gone after it stops.

mod device;

use std::path::Path;
use std::process::Command;

use device::{can_run, checkout, commit, edit_run_json, start, wait, App};

/// A request to the control socket from inside container `name`: a curl
/// moved into the container's cgroups first.
fn ctrl_as(dev: &device::Device, name: &str, method: &str, path: &str) -> (u16, String) {
    let base = pv_runtime::layout::Layout::new(&dev.storage, &dev.run).cgroup_base();
    let script = format!(
        "for f in /sys/fs/cgroup/*/{base}/{name}/cgroup.procs /sys/fs/cgroup/{base}/{name}/cgroup.procs; do \
           [ -f \"$f\" ] && echo $$ > \"$f\"; done; \
         exec curl -s -w '\\n%{{http_code}}' -X {method} --unix-socket {sock} http://localhost{path}",
        sock = dev.socket().display()
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn host_has_modules() -> bool {
    Path::new("/proc/modules").exists() && pv_kmod::host_modules_dir().join("modules.dep").exists()
}

fn bsp_drivers(repo: &Path) {
    std::fs::create_dir_all(repo.join("bsp")).unwrap();
    std::fs::write(
        repo.join("bsp/drivers.json"),
        r##"{"#spec":"driver-aliases@1","all":{"net":["dummy numdummies=1"]}}"##,
    )
    .unwrap();
}

#[test]
fn drivers_of_a_container_through_the_control_socket() {
    if !can_run() || !pv_testkit::require_tool("curl") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let repo = checkout(
        d.path(),
        &[App::new("app", "app", "exec sleep 100000 # marker-drivers")],
        |r| {
            bsp_drivers(r);
            edit_run_json(r, "app", |m| {
                m.insert(
                    "drivers".into(),
                    serde_json::json!({"optional":["ghost"],"manual":["net"]}),
                );
                // the drivers endpoints, like all but /signal, are for mgmt
                m.insert("roles".into(), serde_json::json!(["mgmt"]));
            });
        },
    );
    let dev = start(d.path(), Some(&repo));
    assert!(dev.wait_log("container app: started", 60));
    // the optional driver the BSP does not offer is logged, not fatal
    assert!(dev.wait_log(
        "container app: optional driver ghost is not offered by the BSP",
        5
    ));
    // the host has no drivers of its own
    assert_eq!(dev.ctrl("GET", "/drivers", b""), (200, "{}".into()));
    assert_eq!(
        ctrl_as(&dev, "app", "GET", "/drivers"),
        (
            200,
            r#"[{"name":"ghost","type":"OPTIONAL","status":"UNKNOWN"},{"name":"net","type":"MANUAL","status":"UNLOADED"}]"#
                .into()
        )
    );
    // a name that is not one of its manual drivers does nothing
    assert_eq!(ctrl_as(&dev, "app", "PUT", "/drivers/ghost/load").0, 200);
    let (code, body) = ctrl_as(&dev, "app", "PUT", "/drivers/net/load");
    if host_has_modules() {
        assert_eq!(code, 200, "{body}");
        assert!(ctrl_as(&dev, "app", "GET", "/drivers")
            .1
            .contains(r#""status":"LOADED""#));
        assert_eq!(ctrl_as(&dev, "app", "PUT", "/drivers/net/unload").0, 200);
    } else {
        assert_eq!(
            (code, body.as_str()),
            (400, r#"{"Error":"Error loading driver"}"#)
        );
        assert_eq!(
            ctrl_as(&dev, "app", "PUT", "/drivers/load"),
            (400, r#"{"Error":"Error loading drivers"}"#.into())
        );
        let why = format!(
            "driver net: no kernel modules here: {} has no modules.dep",
            pv_kmod::host_modules_dir().display()
        );
        assert!(dev.wait_log(&why, 5), "a clear line says why");
    }
    assert_eq!(ctrl_as(&dev, "app", "PUT", "/drivers/unload").0, 200);
    assert_eq!(ctrl_as(&dev, "app", "PUT", "/drivers/net/unload").0, 200);
    assert_eq!(
        ctrl_as(&dev, "app", "GET", "/drivers").1,
        r#"[{"name":"ghost","type":"OPTIONAL","status":"UNKNOWN"},{"name":"net","type":"MANUAL","status":"UNLOADED"}]"#
    );
    assert_eq!(dev.stop(), 0);
}

#[test]
fn a_required_driver_that_cannot_load_fails_the_update() {
    if !can_run() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let cfgdir = d.path().join("pvr-config");
    let repo = checkout(
        d.path(),
        &[App::new(
            "app",
            "app",
            "exec sleep 100000 # marker-required",
        )],
        bsp_drivers,
    );
    let dev = start(d.path(), Some(&repo));
    assert!(dev.wait_log("status READY", 60));
    // an app change (no reboot): the container now requires a driver the
    // BSP does not offer
    commit(&repo, &cfgdir, |r| {
        edit_run_json(r, "app", |m| {
            m.insert("drivers".into(), serde_json::json!({"required":["wifi"]}));
        });
    });
    let rev = dev.upload(&repo, &cfgdir, "required");
    assert_eq!(dev.run_local(&rev).0, 200);
    let mut dev = dev;
    assert_eq!(dev.wait_exit(30), Some(0), "the failed update reboots");
    let p = dev.progress(&rev);
    assert!(
        p.contains(r#""status":"ERROR","status-msg":"A container could not be started""#),
        "{p}"
    );
    assert!(dev
        .log
        .lock()
        .unwrap()
        .contains("container app: required driver wifi is not offered by the BSP"));
}

#[test]
fn volumes_land_on_their_disk_and_swap_follows_the_revision() {
    if !can_run()
        || !pv_testkit::require_tools(&[
            "mkswap",
            "swapon",
            "swapoff",
            "/sys/class/zram-control/hot_add",
        ])
    {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let repo = checkout(
        d.path(),
        &[App::new("app", "app", "exec sleep 100000 # marker-disks")],
        |r| {
            std::fs::write(
                r.join("device.json"),
                serde_json::json!({
                    "disks": [{"name": "dirdisk", "type": "directory", "path": "/storage/dirdisk"}],
                    "disks_v2": [{"name": "zswap", "type": "swap-disk", "format": "swap",
                                  "provision": "zram", "provision_options": "disksize=8M"}]
                })
                .to_string(),
            )
            .unwrap();
            edit_run_json(r, "app", |m| {
                m.insert(
                    "storage".into(),
                    serde_json::json!({"data": {"persistence": "permanent", "disk": "dirdisk"}}),
                );
            });
        },
    );
    let swaps_before = std::fs::read_to_string("/proc/swaps").unwrap();
    let dev = start(d.path(), Some(&repo));
    assert!(dev.wait_log("container app: started", 60));
    assert!(dev.wait_log("disk zswap (swap-disk) is set up", 5));
    let swaps = std::fs::read_to_string("/proc/swaps").unwrap();
    let ours: Vec<&str> = swaps
        .lines()
        .filter(|l| !swaps_before.contains(l.split_whitespace().next().unwrap_or("-")))
        .collect();
    assert!(ours.iter().any(|l| l.starts_with("/dev/zram")), "{swaps}");
    // the volume is the disk's directory
    let vol = pv_runtime::layout::Layout::new(&dev.storage, &dev.run)
        .voldir
        .join("app/data");
    std::fs::write(vol.join("hello"), "on the disk").unwrap();
    let on_disk = dev.storage.join("dirdisk/perm/app/data/hello");
    assert_eq!(std::fs::read_to_string(&on_disk).unwrap(), "on the disk");
    // a runtime killed outright leaves its swap on; the next one reaps it
    // before setting its own up: one zram swap, not two
    let zram_swaps = || {
        std::fs::read_to_string("/proc/swaps")
            .unwrap()
            .lines()
            .filter(|l| {
                l.starts_with("/dev/zram")
                    && !swaps_before.contains(l.split_whitespace().next().unwrap())
            })
            .count()
    };
    dev.stop_with(nix::sys::signal::Signal::SIGKILL);
    assert_eq!(zram_swaps(), 1);
    let dev = start(d.path(), None);
    assert!(dev.wait_log("container app: started", 60));
    assert!(dev.wait_log("disk zswap was left set up by a previous run", 5));
    assert_eq!(zram_swaps(), 1);
    let swapdev = std::fs::read_to_string("/proc/swaps")
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .find(|n| n.starts_with("/dev/zram") && !swaps_before.contains(n.as_str()))
        .unwrap();
    assert_eq!(dev.stop(), 0);
    assert!(wait(5, || !std::fs::read_to_string("/proc/swaps")
        .unwrap()
        .contains(&swapdev)));
    assert!(on_disk.exists(), "permanent data stays");
}
