//! The hosted D-Bus system bus end to end: the runtime's own
//! `dbus-daemon` (`pv-dbus`), its policy generated from the manifests
//! (`owns`, `role`, `allow`), and the links of three real containers to
//! it, each authenticated as its role's uid.

use super::*;

const MARKER_HOSTED: &str = "marker-xc-hosted";
const NAME: &str = "org.pv.Hosted";
const BUS_AT: &str = "/run/dbus/system_bus_socket";

/// The pid of `consumer`'s link to the hosted bus, once it runs in its
/// own root, and the link.
fn hosted_link(dev: &Device, consumer: &str) -> (i64, Value) {
    use pv_xconnect::paths::has_own_root;
    let mut out = (0, Value::Null);
    assert!(
        device::wait(20, || {
            graph(dev).into_iter().any(|l| {
                let pid = l["consumer_pid"].as_i64().unwrap_or(0);
                let ok = l["consumer"] == consumer && pid > 0 && has_own_root(pid as i32);
                if ok {
                    out = (pid, l);
                }
                ok
            })
        }),
        "{consumer} has no running link to the hosted bus"
    );
    out
}

/// Connect to the bus from inside container `pid`, through its link.
fn open_in(pid: i64) -> (Bus, String) {
    assert!(wait_socket(pid, BUS_AT, true), "hosted bus link injected");
    let s = in_ns(pid, || {
        std::os::unix::net::UnixStream::connect(BUS_AT).unwrap()
    });
    Bus::open(s)
}

fn driver(member: &str) -> zbus::message::Builder<'static> {
    zbus::Message::method_call("/org/freedesktop/DBus", member.to_string())
        .unwrap()
        .destination("org.freedesktop.DBus")
        .unwrap()
        .interface("org.freedesktop.DBus")
        .unwrap()
}

fn dbus_pid(dev: &Device) -> i64 {
    daemon_pid(dev, "pv-dbus")
}

#[test]
fn hosted_system_bus_policy_identity_and_graph() {
    if !can_run() || !pv_testkit::require_tools(&["/usr/bin/dbus-daemon"]) {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("pantavisor.config"), CONFIG).unwrap();
    let idle = format!(
        "touch /run/ready; trap 'exit 0' TERM; while true; do sleep 1; done # {MARKER_HOSTED}"
    );
    // srv owns the name, ops may call it, guest is on the bus but may not
    let apps = ["srv", "ops", "guest"].map(|n| App::new(n, "app", &idle));
    let repo = checkout(d.path(), &apps, |r| {
        let m = json!({"#spec": "service-manifest-xconnect@1", "services": [
            {"type": "dbus", "bus": "system-bus", "owns": NAME, "role": "hosted-srv",
             "allow": ["operator"]}
        ]});
        std::fs::write(r.join("srv/services.json"), m.to_string()).unwrap();
        for (c, role) in [
            ("srv", "hosted-srv"),
            ("ops", "operator"),
            ("guest", "guest"),
        ] {
            edit_run_json(r, c, |m| {
                m.insert(
                    "services".into(),
                    json!({"required": [{"name": "system-bus", "type": "dbus", "role": role,
                        "target": BUS_AT}]}),
                );
            });
        }
    });
    let dev = start(d.path(), Some(&repo));
    assert!(dev.wait_log("status READY", 30));

    // the graph: one link per consumer, from the runtime (`_pv_`, pid 0)
    let (_, raw) = dev.ctrl("GET", "/xconnect-graph", b"");
    let links = graph(&dev);
    assert_eq!(links.len(), 3, "{raw}");
    let mut uids = std::collections::BTreeMap::new();
    for l in &links {
        assert_eq!(l["provider"], "_pv_", "{raw}");
        assert_eq!(l["provider_pid"], 0, "{raw}");
        assert_eq!(l["name"], "system-bus");
        assert_eq!(l["type"], "dbus");
        assert_eq!(l["target"], BUS_AT);
        let uid = l["uid"].as_u64().expect("a uid");
        assert!(uid >= 90000, "{raw}");
        uids.insert(l["role"].as_str().unwrap().to_string(), uid);
        // uid comes last, after the original's members
        let tail = format!("\"socket\":{},\"uid\":{uid}}}", l["socket"]);
        assert!(raw.contains(&tail), "{tail} in {raw}");
    }
    assert_eq!(uids.len(), 3, "a uid per role: {uids:?}");
    let pool = std::fs::read_to_string(dev.storage.join("config/dbus-role-uids.json")).unwrap();
    let pool: std::collections::BTreeMap<String, u64> = serde_json::from_str(&pool).unwrap();
    assert_eq!(pool, uids, "the pool on storage");
    // the bus runs as a managed daemon
    let first = dbus_pid(&dev);
    assert!(first > 0, "{:?}", daemons(&dev));

    // srv takes its name (claiming uid 0: the link makes it its role's)
    let (srv, _) = hosted_link(&dev, "srv");
    wait_ready(srv);
    let (mut service, srv_name) = open_in(srv);
    let (h, body) = service.call(&driver("RequestName").build(&(NAME, 0u32)).unwrap());
    assert_eq!(h.kind, zbus::message::Type::MethodReturn, "{h:?}");
    assert_eq!(
        u32::from_le_bytes(body[..4].try_into().unwrap()),
        1,
        "primary owner"
    );
    let served = std::sync::Arc::new(std::sync::Mutex::new(vec![]));
    let s2 = served.clone();
    std::thread::spawn(move || {
        while let Some((h, _, msg)) = service.next() {
            if h.kind != zbus::message::Type::MethodCall {
                continue;
            }
            s2.lock()
                .unwrap()
                .push(h.member.clone().unwrap_or_default());
            let r = pv_xconnect::dbus::with_header(&msg, |h| {
                zbus::Message::method_return(h)
                    .unwrap()
                    .build(&("pong",))
                    .unwrap()
            })
            .unwrap();
            service.send(&r);
        }
    });

    // ops: the bus knows it as its role's uid, and srv answers it
    let (ops, _) = hosted_link(&dev, "ops");
    wait_ready(ops);
    let (mut client, me) = open_in(ops);
    let (h, body) = client.call(
        &driver("GetConnectionUnixUser")
            .build(&(me.as_str(),))
            .unwrap(),
    );
    assert_eq!(h.kind, zbus::message::Type::MethodReturn);
    assert_eq!(
        u64::from(u32::from_le_bytes(body[..4].try_into().unwrap())),
        uids["operator"]
    );
    let (h, _) = client.call(&driver("GetNameOwner").build(&(NAME,)).unwrap());
    assert_eq!(h.kind, zbus::message::Type::MethodReturn);
    let (h, body) = client.call(&method(NAME, NAME, "Ping").build(&()).unwrap());
    assert_eq!(h.kind, zbus::message::Type::MethodReturn, "{h:?}");
    assert_eq!(string_at(&body, 0), "pong");

    // guest: on the bus, but its role may neither call nor own the name
    let (guest, _) = hosted_link(&dev, "guest");
    wait_ready(guest);
    let (mut other, _) = open_in(guest);
    let (h, _) = other.call(&method(NAME, NAME, "Ping").build(&()).unwrap());
    assert_eq!(h.kind, zbus::message::Type::Error);
    assert_eq!(
        h.error_name.as_deref(),
        Some("org.freedesktop.DBus.Error.AccessDenied")
    );
    let (h, _) = other.call(&driver("RequestName").build(&(NAME, 0u32)).unwrap());
    assert_eq!(
        h.error_name.as_deref(),
        Some("org.freedesktop.DBus.Error.AccessDenied")
    );
    assert_eq!(*served.lock().unwrap(), ["Ping"], "only ops reached srv");
    assert!(srv_name.starts_with(':'));

    // a bus that dies is started again
    assert!(
        kill_and_await_respawn(&dev, "pv-dbus", first),
        "pv-dbus respawned"
    );
    let (mut again, _) = open_in(ops);
    let (h, _) = again.call(&driver("GetId").build(&()).unwrap());
    assert_eq!(h.kind, zbus::message::Type::MethodReturn);
    drop((client, other, again));

    let conf = d.path().join("run.internal/pv-dbus/system.conf");
    assert_eq!(dev.stop(), 0);
    assert_clean(d.path(), MARKER_HOSTED);
    assert!(
        device::wait(5, || device::processes_with(&conf.display().to_string())
            == 0),
        "pv-dbus left running"
    );
}
