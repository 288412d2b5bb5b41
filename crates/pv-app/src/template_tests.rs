//! Template vectors (spec §9 items 25-28, pvr's own template tests) and the
//! awesome-app example of golden vector 01.

use std::path::Path;

use pv_types::State;
use serde_json::Value;

use crate::src_json::Source;
use crate::template::prepare;
use crate::template_lxc::render_lxc_conf;
use crate::template_run::render_run_json;

fn src(json: &str) -> Source {
    Source::parse(Path::new("src.json"), json.as_bytes()).unwrap()
}

fn empty_state() -> State {
    State::new("pantavisor-service-system@1")
}

fn conf(json: &str) -> String {
    let (i, _) = prepare("container1", &src(json), &empty_state());
    render_lxc_conf(&i).unwrap()
}

fn run(json: &str) -> Value {
    let (i, _) = prepare("container1", &src(json), &empty_state());
    pv_json::parse(render_run_json(&i).as_bytes()).unwrap()
}

#[test]
fn init_cmd_quoting() {
    let cases = [
        (r#"{"Cmd":"run.sh"}"#, "lxc.init.cmd = run.sh\n"),
        (
            r#"{"Cmd":["run.sh","something"]}"#,
            "lxc.init.cmd = run.sh \"something\"\n",
        ),
        (r#"{"Entrypoint":"run.sh"}"#, "lxc.init.cmd = run.sh\n"),
        (r#"{"Entrypoint":["run.sh"]}"#, "lxc.init.cmd = run.sh\n"),
        (
            r#"{"Entrypoint":["run.sh","something"]}"#,
            "lxc.init.cmd = run.sh \"something\"\n",
        ),
        (
            r#"{"Entrypoint":["run.sh","something"],"Cmd":["runit"]}"#,
            "lxc.init.cmd = run.sh \"something\" \"runit\"\n",
        ),
        (
            r#"{"Entrypoint":["run.sh","something"],"Cmd":"runit"}"#,
            "lxc.init.cmd = run.sh \"something\" \"runit\"\n",
        ),
        (r#"{}"#, "lxc.init.cmd = /sbin/init\n"),
        (r#"{"WorkingDir":"/foo"}"#, "lxc.init.cwd = /foo\n"),
    ];
    for (docker, want) in cases {
        let c = conf(&format!(
            r##"{{"#spec":"service-manifest-src@1","docker_config":{docker}}}"##
        ));
        assert!(c.contains(want), "{docker}: {want:?} not in\n{c}");
    }
}

#[test]
fn volume_imports() {
    let c = conf(
        r##"{"#spec":"service-manifest-src@1","args":{"PV_VOLUME_IMPORTS":["cont:/foo/fol:/faldara","cont:subdir@/foo/fol:/faldara-sub","cont:subdir@/foo/fol:/faldara-sub:ro"]}}"##,
    );
    for line in [
        "lxc.mount.entry = /volumes/cont/docker--foo-fol faldara none bind,rw,create=dir 0 0\n",
        "lxc.mount.entry = /volumes/cont/docker--foo-fol/subdir faldara-sub none bind,rw,create=dir 0 0\n",
        "lxc.mount.entry = /volumes/cont/docker--foo-fol/subdir faldara-sub none bind,ro,create=dir 0 0\n",
    ] {
        assert!(c.contains(line), "{line:?} not in\n{c}");
    }
}

#[test]
fn storage_from_docker_volumes_and_persistence() {
    let r = run(
        r##"{"#spec":"service-manifest-src@1","docker_config":{"Volumes":{"/var/pvr-sdk":{},"/tmp/":{}}},"persistence":{"/var/crypt":"permanent@dm-versatile","/tmp/":"revision","ovl:/var/lib/x":"boot"}}"##,
    );
    let want = pv_json::parse(
        br#"{"docker--var-pvr-sdk":{"persistence":"permanent"},
             "docker--var-crypt":{"disk":"dm-versatile","persistence":"permanent"},
             "docker--tmp":{"persistence":"revision"},
             "dockerovl--var-lib-x":{"persistence":"boot"},
             "lxc-overlay":{"persistence":"boot"}}"#,
    )
    .unwrap();
    assert_eq!(r["storage"], want);
    let c = conf(
        r##"{"#spec":"service-manifest-src@1","docker_config":{"Volumes":{"/var/pvr-sdk":{}}}}"##,
    );
    assert!(c.contains(
        "lxc.mount.entry = /volumes/container1/docker--var-pvr-sdk var/pvr-sdk none bind,rw,create=dir 0 0\n"
    ));
}

#[test]
fn data_container_has_no_lxc_conf() {
    for args in [
        r#"{"PV_STATUS_GOAL":"MOUNTED"}"#,
        r#"{"PV_RUNLEVEL":"data"}"#,
    ] {
        let s = src(&format!(
            r##"{{"#spec":"service-manifest-src@1","args":{args}}}"##
        ));
        let (i, _) = prepare("d", &s, &empty_state());
        assert!(render_lxc_conf(&i).is_none());
        let r: Value = pv_json::parse(render_run_json(&i).as_bytes()).unwrap();
        assert!(r.get("config").is_none() && r.get("type").is_none(), "{r}");
        assert_eq!(r["root-volume"], "root.squashfs");
    }
}

#[test]
fn run_json_members() {
    let r = run(
        r##"{"#spec":"service-manifest-src@1","args":{"PV_GROUP":"platform","PV_RESTART_POLICY":"system","PV_ROLES":["mgmt"],"PV_DRIVERS_REQUIRED":["wifi"],"PV_EXTRA_VOLUMES":"a.squashfs,b.squashfs"},"dm_enabled":{"root.squashfs":true}}"##,
    );
    let want = pv_json::parse(
        br##"{"#spec":"service-manifest-run@1","name":"container1","config":"lxc.container.conf",
        "drivers":{"manual":[],"optional":[],"required":["wifi"]},"group":"platform",
        "restart_policy":"system","storage":{"lxc-overlay":{"persistence":"boot"}},
        "type":"lxc","roles":["mgmt"],"root-volume":"dm:root.squashfs",
        "volumes":["a.squashfs","b.squashfs"]}"##,
    )
    .unwrap();
    assert_eq!(r, want);
}

#[test]
fn services_from_their_template_variables() {
    let r = run(
        r##"{"#spec":"service-manifest-src@1","args":{"PV_SERVICES_REQUIRED":[{"name":"api","type":"rest","target":"/run/api.sock"}]}}"##,
    );
    assert_eq!(
        r["services"],
        pv_json::parse(br#"{"required":[{"name":"api","type":"rest","target":"/run/api.sock"}]}"#)
            .unwrap()
    );
    let r = run(
        r##"{"#spec":"service-manifest-src@1","args":{"PV_SERVICES_OPTIONAL":[{"name":"gpu","type":"drm"}]}}"##,
    );
    assert!(r["services"].get("required").is_none(), "{r}");
    assert_eq!(r["services"]["optional"][0]["name"], "gpu");
    let r = run(r##"{"#spec":"service-manifest-src@1"}"##);
    assert!(r.get("services").is_none(), "absent unless asked for: {r}");
}

#[test]
fn defaults_and_switches() {
    let c = conf(r##"{"#spec":"service-manifest-src@1"}"##);
    assert_eq!(
        c,
        "lxc.tty.max = 8\n\
         lxc.pty.max = 1024\n\
         lxc.cgroup.devices.allow = a\n\
         lxc.rootfs.path = overlayfs:/volumes/container1/root.squashfs:/volumes/container1/lxc-overlay/upper\n\
         lxc.init.cmd = /sbin/init\n\
         lxc.namespace.keep = user net ipc\n\
         lxc.mount.auto = proc sys:rw cgroup\n\
         lxc.mount.entry = /etc/resolv.conf etc/resolv.conf none bind,rw,create=file 0 0\n\
         lxc.mount.entry = tmpfs run tmpfs rw,nodev,relatime,create=dir,mode=755 0 0\n"
    );
    let c = conf(
        r##"{"#spec":"service-manifest-src@1","args":{"PV_LXC_NETWORK_TYPE":"veth","PV_RESOLV_CONF_DISABLE":"yes","PV_RUN_TMPFS_DISABLE":"yes","PVR_LXC_CGROUP_DEVICES_WHITE":["c 1:* rw"],"PV_LXC_CAP_DROP":["SYS_ADMIN"],"LXC_TTY_MAX":"2","PV_LXC_EXTRA_ENV":["A=b"],"PV_LXC_EXTRA_CONF":"lxc.x = 1"}}"##,
    );
    for line in [
        "lxc.tty.max = 2\n",
        "lxc.cgroup.devices.deny = a\nlxc.cgroup.devices.allow = c 1:* rw\n",
        "lxc.environment = A=b\n",
        "lxc.namespace.keep = user ipc\n",
        "lxc.cap.drop = sys_admin\n",
        "lxc.net.0.type = veth\nlxc.net.0.link = lxcbr0\nlxc.net.0.flags = up\n",
        "lxc.x = 1\n",
    ] {
        assert!(c.contains(line), "{line:?} not in\n{c}");
    }
    assert!(!c.contains("resolv.conf") && !c.contains("tmpfs run"));
}

/// Golden vector 01 ships an awesome-app whose files were written by hand
/// (its root.squashfs is filler bytes, not a squashfs, and run.json has a
/// `restart_policy` no template argument asks for). What can be checked:
/// the recipe parses, every lxc.container.conf line that the template
/// makes from these inputs is there, and run.json agrees on the members the
/// template emits. The differences are listed in the crate's notes.
#[test]
fn golden_awesome_app() {
    let dir = pv_testkit::golden("01-basic-container").join("input/repo");
    let src_bytes = std::fs::read(dir.join("awesome-app/src.json")).unwrap();
    let s = Source::parse(Path::new("src.json"), &src_bytes).unwrap();
    let mut state = State::new("pantavisor-service-system@1");
    let device = pv_json::parse(&std::fs::read(dir.join("device.json")).unwrap()).unwrap();
    state.insert("device.json", device);
    let (i, notes) = prepare("awesome-app", &s, &state);
    assert!(notes.warnings.is_empty(), "{:?}", notes.warnings);
    let ours = render_lxc_conf(&i).unwrap();
    let golden = std::fs::read_to_string(dir.join("awesome-app/lxc.container.conf")).unwrap();
    for line in golden.lines().filter(|l| !l.starts_with("lxc.mount.auto")) {
        assert!(ours.lines().any(|o| o == line), "{line:?} not in\n{ours}");
    }
    for extra in [
        "lxc.init.cwd = /",
        "lxc.environment = PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        "lxc.mount.entry = /volumes/awesome-app/docker--etc-awesome-app etc/awesome-app none bind,rw,create=dir 0 0",
    ] {
        assert!(ours.lines().any(|o| o == extra), "{extra:?} not in\n{ours}");
    }
    let ours: Value = pv_json::parse(render_run_json(&i).as_bytes()).unwrap();
    let golden: Value =
        pv_json::parse(&std::fs::read(dir.join("awesome-app/run.json")).unwrap()).unwrap();
    for (k, v) in golden.as_object().unwrap() {
        if k == "restart_policy" {
            assert!(ours.get(k).is_none());
            continue;
        }
        assert_eq!(ours.get(k), Some(v), "member {k}");
    }
}
