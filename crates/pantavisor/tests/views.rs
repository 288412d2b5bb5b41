//! What the original shows on a device, checked on a real one (needs
//! root): the `/pantavisor` tree seen from inside a mgmt and a plain
//! container, the default device metadata, group defaults in the control
//! API, and the configuration levels set by legacy keys (kernel command
//! line and user metadata) as `GET /config2` reports them.

mod device;

use std::path::Path;

use device::{can_run, checkout, start_with_cmdline, App};
use serde_json::{json, Value};

/// The container's listing between `==view` and `==end` in its console.
fn view(dev: &device::Device, name: &str) -> Option<Vec<String>> {
    let c = dev.console("0", name);
    let body = c.split("==view\n").nth(1)?.split("==end").next()?;
    Some(body.lines().map(String::from).collect())
}

const LIST: &str = "busybox find /pantavisor -not -name console.log | busybox sort";

fn config2(dev: &device::Device, key: &str) -> Value {
    let (s, b) = dev.ctrl("GET", "/config2", b"");
    assert_eq!(s, 200, "{b}");
    let all: Vec<Value> = serde_json::from_str(&b).unwrap();
    all.into_iter()
        .find(|e| e["key"] == key)
        .unwrap_or_else(|| panic!("{key} not in {b}"))
}

#[test]
fn what_containers_the_control_api_and_the_config_levels_show() {
    if !can_run() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("pantavisor.config"),
        "PV_SECUREBOOT_MODE=disabled\nPV_LOG_LEVEL=4\n",
    )
    .unwrap();
    // each container lists its /pantavisor once the test says so through
    // user metadata (it sees its own view of it)
    let script = |extra: &str| {
        format!(
            "echo up; until test -e /pantavisor/user-meta/go; do sleep 1; done; {extra} \
             echo ==view; {LIST}; echo ==end; exec sleep 100000 # marker-views"
        )
    };
    let mgmt_script = script(
        "test -s /pantavisor/logs/0/app/lxc/console.log && echo sees-app-console; \
         test -e /pantavisor/logs/current && echo sees-current;",
    );
    let app_script = script("test -s /pantavisor/logs/lxc/console.log && echo sees-own-console;");
    let mut m = App::new("mgmt", "platform", &mgmt_script);
    m.args = vec![r#"PV_ROLES=["mgmt"]"#.into()];
    let a = App::new("app", "app", &app_script);
    let repo = checkout(d.path(), &[m, a], |_| {});
    let dev = start_with_cmdline(
        d.path(),
        Some(&repo),
        "console=ttyS0 pv_rev=0 ph_metadata.devmeta.interval=15 ph_PH_CREDS_PORT=8443 \
         ph_updater_interval=9 pv_log.level=5",
    );
    assert!(dev.wait_log("status READY", 30));

    // default device metadata: no Hub here
    assert_eq!(dev.devmeta("pantahub.online"), "0");
    assert_eq!(dev.devmeta("pantahub.claimed"), "0");
    let (_, b) = dev.ctrl("GET", "/device-meta", b"");
    let meta: Value = serde_json::from_str(&b).unwrap();
    let dt = std::fs::read("/proc/device-tree/model")
        .map(|m| {
            String::from_utf8_lossy(&m)
                .trim_end_matches(['\0', '\n'])
                .to_string()
        })
        .unwrap_or_default();
    // the original publishes the model, empty without a device tree
    assert_eq!(meta["pantavisor.dtmodel"], dt.as_str(), "{b}");
    // the hints of the run dir
    let run = |n: &str| std::fs::read_to_string(dev.run.join(n)).unwrap();
    assert_eq!(run("challenge"), "");
    assert_eq!(run("device-id"), "");
    assert_eq!(run("pantahub-host"), "https://api.pantahub.com:8443\n");
    assert!(dev.run.join("phconfig/pantahub.config").is_file());

    // group defaults: the app container has no auto_recovery of its own
    let (s, b) = dev.ctrl("GET", "/containers", b"");
    assert_eq!(s, 200);
    let list: Vec<Value> = serde_json::from_str(&b).unwrap();
    let app = list.iter().find(|c| c["name"] == "app").unwrap();
    assert_eq!(app["group"], "app");
    assert_eq!(app["restart_policy"], "container");
    assert_eq!(
        app["auto_recovery"],
        json!({"policy":"on-failure","max_retries":5,"current_retries":0,
               "stable_timeout":30,"is_stable":"false","backoff_policy":"reboot"}),
        "{b}"
    );
    assert_eq!(app["user_stopped"], "false");
    let mgmt = list.iter().find(|c| c["name"] == "mgmt").unwrap();
    assert_eq!(mgmt["roles"], json!(["mgmt"]));
    assert!(mgmt.get("auto_recovery").is_none(), "{b}");
    let (_, b) = dev.ctrl("GET", "/groups", b"");
    let groups: Vec<Value> = serde_json::from_str(&b).unwrap();
    let g = groups.iter().find(|g| g["name"] == "app").unwrap();
    assert_eq!(
        g["auto_recovery"],
        json!({"max_retries":5,"stable_timeout":30,"backoff_policy":"reboot"}),
        "{b}"
    );

    // configuration levels from the kernel command line, every spelling
    assert_eq!(
        config2(&dev, "PH_METADATA_DEVMETA_INTERVAL"),
        json!({"key":"PH_METADATA_DEVMETA_INTERVAL","value":"15","modified":"ph cmdline"})
    );
    assert_eq!(config2(&dev, "PH_CREDS_PORT")["value"], "8443");
    assert_eq!(config2(&dev, "PH_UPDATER_INTERVAL")["value"], "9");
    assert_eq!(
        config2(&dev, "PH_CREDS_HOST"),
        json!({"key":"PH_CREDS_HOST","value":"api.pantahub.com","modified":"ph conf file"})
    );
    assert_eq!(
        config2(&dev, "PV_LOG_LEVEL"),
        json!({"key":"PV_LOG_LEVEL","value":"5","modified":"pv cmdline"})
    );
    // user metadata by legacy name: metadata level, removal restores
    for (name, key, value, before, level) in [
        ("log.level", "PV_LOG_LEVEL", "3", "5", "pv cmdline"),
        (
            "updater.interval",
            "PH_UPDATER_INTERVAL",
            "7",
            "9",
            "ph cmdline",
        ),
        ("pantahub.log.push", "PV_LOG_PUSH", "0", "1", "default"),
        ("PV_LOG_LEVEL", "PV_LOG_LEVEL", "6", "5", "pv cmdline"),
    ] {
        let (s, b) = dev.ctrl("PUT", &format!("/user-meta/{name}"), value.as_bytes());
        assert_eq!(s, 200, "{name}: {b}");
        assert_eq!(
            config2(&dev, key),
            json!({"key":key,"value":value,"modified":"metadata"}),
            "{name}"
        );
        let (s, _) = dev.ctrl("DELETE", &format!("/user-meta/{name}"), b"");
        assert_eq!(s, 200);
        assert_eq!(
            config2(&dev, key),
            json!({"key":key,"value":before,"modified":level}),
            "{name} removed"
        );
    }
    // the same through pvcontrol, as the original's test cases do it
    let pvc = |args: &[&str]| {
        let out = std::process::Command::new(device::bins::workspace_bin("pvcontrol"))
            .arg("-s")
            .arg(dev.socket())
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "pvcontrol {args:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let legacy =
        |k: &str| serde_json::from_str::<Value>(&pvc(&["config", "ls"])).unwrap()[k].clone();
    assert_eq!(legacy("log.level"), json!(5));
    assert_eq!(legacy("metadata.devmeta.interval"), json!(15));
    pvc(&["usrmeta", "save", "log.level", "4"]);
    assert_eq!(legacy("log.level"), json!(4));
    let conf: Vec<Value> = serde_json::from_str(&pvc(&["conf", "ls"])).unwrap();
    assert!(conf.contains(&json!({"key":"PV_LOG_LEVEL","value":"4","modified":"metadata"})));
    pvc(&["usrmeta", "delete", "log.level"]);
    assert_eq!(legacy("log.level"), json!(5));

    // our own keys come after the original's
    let (_, b) = dev.ctrl("GET", "/config2", b"");
    let all: Vec<Value> = serde_json::from_str(&b).unwrap();
    assert_eq!(all[0]["key"], "PH_CREDS_HOST");
    let ours: Vec<&Value> = all[all.len() - 3..].iter().map(|e| &e["key"]).collect();
    assert_eq!(
        ours,
        [
            &json!("PV_LAN_PVR_LISTEN"),
            &json!("PV_LAN_PVR_TOKEN"),
            &json!("PH_CREDS_CAFILE")
        ]
    );

    // the /pantavisor views, from inside the containers
    for (k, v) in [("go", "1"), ("app.go", "1")] {
        assert_eq!(
            dev.ctrl("PUT", &format!("/user-meta/{k}"), v.as_bytes()).0,
            200
        );
    }
    assert!(device::wait(20, || view(&dev, "mgmt").is_some()
        && view(&dev, "app").is_some()));
    let mgmt_view = view(&dev, "mgmt").unwrap();
    let (logs, rest): (Vec<String>, Vec<String>) = mgmt_view
        .into_iter()
        .partition(|l| l.starts_with("/pantavisor/logs/"));
    let mut expected: Vec<String> = [
        "/pantavisor",
        "/pantavisor/challenge",
        "/pantavisor/device-id",
        "/pantavisor/device-meta",
        "/pantavisor/device-meta.app",
        "/pantavisor/device-meta.pantahub",
        "/pantavisor/device-meta.pantahub/claimed",
        "/pantavisor/device-meta.pantahub/online",
        "/pantavisor/device-meta.pantavisor",
        "/pantavisor/device-meta.pantavisor/arch",
        "/pantavisor/device-meta.pantavisor/cpumodel",
        "/pantavisor/device-meta.pantavisor/dtmodel",
        "/pantavisor/device-meta.pantavisor/mode",
        "/pantavisor/device-meta.pantavisor/revision",
        "/pantavisor/device-meta.pantavisor/status",
        "/pantavisor/device-meta.pantavisor/uname",
        "/pantavisor/device-meta.pantavisor/version",
        "/pantavisor/device-meta/interfaces",
        "/pantavisor/device-meta/pantahub.claimed",
        "/pantavisor/device-meta/pantahub.online",
        "/pantavisor/device-meta/pantavisor.arch",
        "/pantavisor/device-meta/pantavisor.cpumodel",
        "/pantavisor/device-meta/pantavisor.dtmodel",
        "/pantavisor/device-meta/pantavisor.mode",
        "/pantavisor/device-meta/pantavisor.revision",
        "/pantavisor/device-meta/pantavisor.status",
        "/pantavisor/device-meta/pantavisor.uname",
        "/pantavisor/device-meta/pantavisor.version",
        "/pantavisor/device-meta/storage",
        "/pantavisor/device-meta/sysinfo",
        "/pantavisor/device-meta/time",
        "/pantavisor/logs",
        "/pantavisor/pantahub-host",
        "/pantavisor/phconfig",
        "/pantavisor/pv-ctrl",
        "/pantavisor/pv-ctrl-log",
        "/pantavisor/pv-fd-log",
        "/pantavisor/user-meta",
        "/pantavisor/user-meta.app",
        "/pantavisor/user-meta.app/go",
        // per-container dirs of the keys saved and removed above stay, as
        // in the original
        "/pantavisor/user-meta.log",
        "/pantavisor/user-meta.pantahub",
        "/pantavisor/user-meta.updater",
        "/pantavisor/user-meta/app.go",
        "/pantavisor/user-meta/go",
    ]
    .map(String::from)
    .to_vec();
    expected.sort();
    assert_eq!(rest, expected, "mgmt view");
    for l in [
        "/pantavisor/logs/0/app/lxc",
        "/pantavisor/logs/0/mgmt/lxc",
        "/pantavisor/logs/0/pantavisor/pantavisor.log",
        "/pantavisor/logs/current",
    ] {
        assert!(logs.iter().any(|x| x == l), "{l} not in {logs:#?}");
    }
    let mc = dev.console("0", "mgmt");
    assert!(
        mc.contains("sees-app-console") && mc.contains("sees-current"),
        "{mc}"
    );
    assert_eq!(
        view(&dev, "app").unwrap(),
        [
            "/pantavisor",
            "/pantavisor/device-meta",
            "/pantavisor/logs",
            "/pantavisor/logs/lxc",
            "/pantavisor/pv-ctrl",
            "/pantavisor/pv-ctrl-log",
            "/pantavisor/user-meta",
            "/pantavisor/user-meta/go",
        ],
        "plain container view"
    );
    assert!(dev.console("0", "app").contains("sees-own-console"));
    assert!(
        !Path::new(&dev.run).join("containers").exists() && !dev.run.join("volumes").exists(),
        "the runtime's own state is outside the run dir"
    );
    assert_eq!(dev.stop(), 0);
    device::assert_clean(d.path(), "marker-views");
}
