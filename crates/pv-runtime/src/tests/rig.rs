//! The rig of the engine's unit tests: a device on a temp storage, with
//! the real boot env file (`boot/uboot.txt`), the real object pool, trails,
//! progress records, control socket and log server, and the fake kernel
//! ([`FakeSystem`]) under it. Nothing needs root, nothing waits.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pv_boot::BootEnv;
use pv_objects::ObjectStore;
use serde_json::{json, Value};

use crate::daemon::Options;
use crate::device::Device;
use crate::layout::Layout;
use crate::progress::{self, Progress};
use crate::system::fake::FakeSystem;
use crate::trail;

/// Configuration of every rig: no signatures, no commit delay, group
/// goals that time out only when a test asks for it.
pub const CONFIG: &str = "PV_SECUREBOOT_MODE=disabled\nPV_UPDATER_COMMIT_DELAY=0\nPV_UPDATER_GOALS_TIMEOUT=120\nPV_LOG_LEVEL=0\n";

/// A container of a test revision.
#[derive(Debug, Clone)]
pub struct Ctr {
    pub name: &'static str,
    pub group: &'static str,
    /// Changes the content of its root volume (a new object).
    pub image: &'static str,
    pub status_goal: Option<&'static str>,
    pub auto_recovery: Option<Value>,
}

impl Ctr {
    pub fn new(name: &'static str, group: &'static str) -> Ctr {
        Ctr {
            name,
            group,
            image: "v1",
            status_goal: None,
            auto_recovery: None,
        }
    }
}

/// A test revision: containers, groups (device.json) and extra keys.
#[derive(Debug, Clone)]
pub struct Rev {
    pub ctrs: Vec<Ctr>,
    /// Goal timeout of every group, in seconds.
    pub group_timeout: u64,
    pub extra: Vec<(String, Value)>,
    /// Extra files as objects: key, content.
    pub files: Vec<(String, String)>,
}

impl Default for Rev {
    /// `sys` in group `platform` (restart policy system), `app` in group
    /// `app` (restart policy container).
    fn default() -> Rev {
        Rev {
            ctrs: vec![Ctr::new("sys", "platform"), Ctr::new("app", "app")],
            group_timeout: 30,
            extra: vec![],
            files: vec![],
        }
    }
}

impl Rev {
    /// The same revision with container `name`'s root volume changed.
    pub fn with_image(mut self, name: &str, image: &'static str) -> Rev {
        for c in self.ctrs.iter_mut().filter(|c| c.name == name) {
            c.image = image;
        }
        self
    }

    /// The same revision with `key` set to an inline JSON value.
    pub fn with(mut self, key: &str, v: Value) -> Rev {
        self.extra.push((key.into(), v));
        self
    }

    /// The same revision with file `key` (an object) of `content`.
    pub fn with_file(mut self, key: &str, content: &str) -> Rev {
        self.files.push((key.into(), content.into()));
        self
    }

    /// The state JSON, its objects written into `pool`.
    pub fn text(&self, pool: &ObjectStore) -> Vec<u8> {
        let mut m = serde_json::Map::new();
        m.insert("#spec".into(), json!("pantavisor-service-system@1"));
        m.insert(
            "device.json".into(),
            json!({"groups": [
                {"name": "platform", "status_goal": "STARTED", "restart_policy": "system",
                 "timeout": self.group_timeout},
                {"name": "app", "status_goal": "STARTED", "restart_policy": "container",
                 "timeout": self.group_timeout},
            ]}),
        );
        for c in &self.ctrs {
            let conf = pool
                .put_bytes(
                    format!(
                        "lxc.rootfs.path = overlayfs:/volumes/{n}/root.squashfs:/volumes/{n}/lxc-overlay/upper\n\
                         lxc.init.cmd = /bin/{n}\n",
                        n = c.name
                    )
                    .as_bytes(),
                )
                .expect("object");
            let img = pool
                .put_bytes(format!("squashfs of {} {}", c.name, c.image).as_bytes())
                .expect("object");
            let mut run = json!({
                "#spec": "service-manifest-run@1",
                "name": c.name,
                "type": "lxc",
                "config": "lxc.container.conf",
                "root-volume": "root.squashfs",
                "volumes": [],
                "storage": {"data": {"persistence": "permanent"}},
                "group": c.group,
            });
            if let Some(g) = c.status_goal {
                run["status_goal"] = json!(g);
            }
            if let Some(a) = &c.auto_recovery {
                run["auto_recovery"] = a.clone();
            }
            m.insert(format!("{}/run.json", c.name), run);
            m.insert(
                format!("{}/lxc.container.conf", c.name),
                json!(conf.to_hex()),
            );
            m.insert(format!("{}/root.squashfs", c.name), json!(img.to_hex()));
        }
        for (k, v) in &self.extra {
            m.insert(k.clone(), v.clone());
        }
        for (k, content) in &self.files {
            let id = pool.put_bytes(content.as_bytes()).expect("object");
            m.insert(k.clone(), json!(id.to_hex()));
        }
        serde_json::to_vec(&Value::Object(m)).expect("json")
    }
}

/// A device's storage, run dir and configuration in a temp dir, and the
/// fake kernel it runs on.
pub struct Rig {
    _dir: tempfile::TempDir,
    pub sys: FakeSystem,
    pub opts: Options,
}

impl Rig {
    /// An empty storage with [`CONFIG`] plus `extra_config` lines.
    pub fn new(extra_config: &str) -> Rig {
        // the runtime's messages, shown for a failing test
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("pantavisor.config");
        std::fs::write(&config, format!("{CONFIG}{extra_config}")).expect("config");
        let opts = Options {
            storage: dir.path().join("storage"),
            rundir: dir.path().join("run"),
            config: Some(config),
            factory: None,
            cmdline: Some(String::new()),
            exe: PathBuf::from("/nonexistent/pantavisor"),
            tick: Duration::ZERO,
            embedded: false,
        };
        let rig = Rig {
            _dir: dir,
            sys: FakeSystem::new(),
            opts,
        };
        rig.layout().create().expect("layout");
        rig
    }

    /// A storage whose committed revision `0` is `rev` (DONE, factory).
    pub fn with_factory(rev: &Rev) -> Rig {
        Rig::with_factory_and(rev, "")
    }

    /// [`Rig::with_factory`] with `extra_config` lines.
    pub fn with_factory_and(rev: &Rev, extra_config: &str) -> Rig {
        let rig = Rig::new(extra_config);
        rig.install("0", rev);
        progress::write(
            &rig.layout(),
            "0",
            &Progress::new("DONE", "Factory revision"),
        )
        .expect("progress");
        progress::mark_done(&rig.layout(), "0").expect("done");
        rig.env().commit("0").expect("env");
        rig
    }

    pub fn layout(&self) -> Layout {
        Layout::new(&self.opts.storage, &self.opts.rundir)
    }

    pub fn pool(&self) -> ObjectStore {
        ObjectStore::open(self.layout().objects()).expect("pool")
    }

    /// The real boot env file of the storage.
    pub fn env(&self) -> Box<dyn BootEnv + Send + Sync> {
        pv_boot::EnvFormat::UbootNul.open(&self.opts.storage)
    }

    /// Install `rev` as trail `name` (objects into the pool first).
    pub fn install(&self, name: &str, rev: &Rev) {
        let pool = self.pool();
        let text = rev.text(&pool);
        trail::install(&self.layout(), name, &text, &pool).expect("install");
    }

    /// What `PUT /steps/<name>` leaves: the state text and progress NEW.
    pub fn stage_text(&self, name: &str, text: &[u8]) {
        let t = self.layout().trail(name);
        std::fs::create_dir_all(t.join(".pvr")).expect("trail dir");
        std::fs::write(t.join(".pvr/json"), text).expect("state");
        self.set_progress(name, "NEW", crate::update::msg::READY_TO_RUN);
    }

    /// [`Rig::stage_text`] of a revision (objects into the pool).
    pub fn stage(&self, name: &str, rev: &Rev) {
        let text = rev.text(&self.pool());
        self.stage_text(name, &text);
    }

    pub fn set_progress(&self, rev: &str, status: &str, msg: &str) {
        progress::write(&self.layout(), rev, &Progress::new(status, msg)).expect("progress");
    }

    /// The progress of `rev` as `(status, status-msg)`.
    pub fn progress(&self, rev: &str) -> (String, String) {
        let p = progress::read(&self.layout(), rev)
            .unwrap_or_else(|| panic!("revision {rev} has no progress"));
        (p.status, p.msg)
    }

    /// Boot a device on the fake kernel.
    pub fn boot(&self) -> Device {
        Device::boot_on(&self.opts, Arc::new(self.sys.clone())).expect("boot")
    }

    /// Tick until the device wants to exit (at most `n` ticks).
    pub fn run(&self, dev: &mut Device, n: usize) -> Option<i32> {
        (0..n).find_map(|_| dev.tick())
    }

    /// Tick `n` times; panics if the device wants to exit.
    pub fn ticks(&self, dev: &mut Device, n: usize) {
        if let Some(code) = self.run(dev, n) {
            panic!("the device exits with {code}: {dev:?}");
        }
    }
}
