#![allow(dead_code)]
//! A test device: a pvr checkout built from busybox-static with pv-app,
//! and a `pantavisor` process running it in appengine mode.

pub mod bins;
pub mod http;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Root, busybox-static and squashfs-tools, or (pv_testkit decides) a
/// failure under CI and a counted skip elsewhere.
pub fn can_run() -> bool {
    pv_testkit::require_root() && pv_testkit::require_tools(&["/bin/busybox", "mksquashfs"])
}

/// A busybox rootfs directory.
pub fn rootfs(dir: &Path) -> PathBuf {
    let r = dir.join("rootfs");
    std::fs::create_dir_all(r.join("bin")).unwrap();
    std::fs::create_dir_all(r.join("etc")).unwrap();
    std::fs::copy("/bin/busybox", r.join("bin/busybox")).unwrap();
    for a in [
        "sh", "cat", "echo", "touch", "hostname", "ls", "sleep", "grep", "date", "mkdir", "test",
        "[",
    ] {
        std::os::unix::fs::symlink("busybox", r.join("bin").join(a)).unwrap();
    }
    std::fs::write(r.join("etc/motd"), "from the image\n").unwrap();
    r
}

/// A container to add to the checkout.
pub struct App<'a> {
    pub name: &'a str,
    pub group: &'a str,
    pub script: &'a str,
    pub args: Vec<String>,
    pub volumes: Vec<String>,
    pub status_goal: Option<&'a str>,
}

impl<'a> App<'a> {
    pub fn new(name: &'a str, group: &'a str, script: &'a str) -> Self {
        App {
            name,
            group,
            script,
            args: vec![],
            volumes: vec![],
            status_goal: None,
        }
    }
}

/// Build a committed checkout with these containers; `edit` may change
/// the working tree before the commit.
pub fn checkout(dir: &Path, apps: &[App<'_>], edit: impl FnOnce(&Path)) -> PathBuf {
    let rootfs = rootfs(dir);
    let repo_dir = dir.join("device");
    std::fs::create_dir_all(&repo_dir).unwrap();
    let cfg = dir.join("pvr-config");
    let repo = pvr_core::Repo::init(&repo_dir, &cfg, None, None).unwrap();
    let pristine = repo.pristine().unwrap();
    for a in apps {
        let cj = dir.join(format!("{}.json", a.name));
        let cmd = serde_json::json!({"Cmd": ["/bin/sh", "-c", a.script], "Env": ["PATH=/bin"]});
        std::fs::write(&cj, cmd.to_string()).unwrap();
        let cache = cfg.join("cache");
        let env = pv_app::AppEnv {
            checkout: &repo_dir,
            pristine: &pristine,
            cache_dir: &cache,
            progress: &pv_app::NoProgress,
        };
        let opts = pv_app::AppAddOptions {
            from: Some(rootfs.to_string_lossy().into_owned()),
            source_type: Some("rootfs".parse().unwrap()),
            group: Some(a.group.to_string()),
            config_json: Some(cj),
            args: a.args.clone(),
            volumes: a.volumes.clone(),
            status_goal: a.status_goal.map(String::from),
            format_options: Some("-comp gzip".into()),
            ..Default::default()
        };
        pv_app::app_add(&env, a.name, &opts).unwrap();
    }
    edit(&repo_dir);
    let q = pvr_core::progress::Progress::quiet();
    pvr_core::working::add(&repo, &[], false, &q).unwrap();
    pvr_core::commit::commit(&repo, Some("test"), &mut std::io::sink(), &q).unwrap();
    repo_dir
}

/// A `device.json` in checkout `repo`: groups `platform` (restarted with
/// the system) and `app` (restarted alone) reach STARTED within 10 s; an
/// app container that fails is restarted up to 3 times, 1 s apart, and
/// counts as stable after 1 s (default 30 s).
pub fn write_recovering_groups(repo: &Path) {
    let dev = serde_json::json!({"groups": [
        {"name": "platform", "status_goal": "STARTED", "restart_policy": "system", "timeout": 10},
        {"name": "app", "status_goal": "STARTED", "restart_policy": "container", "timeout": 10,
         "auto_recovery": {"policy": "on-failure", "max_retries": 3, "retry_delay": 1, "stable_timeout": 1}}
    ]});
    std::fs::write(repo.join("device.json"), dev.to_string()).unwrap();
}

/// Edit a container's run.json in the working tree.
pub fn edit_run_json(
    repo: &Path,
    name: &str,
    f: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) {
    let p = repo.join(name).join("run.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    f(v.as_object_mut().unwrap());
    std::fs::write(&p, v.to_string()).unwrap();
}

/// A running `pantavisor`.
pub struct Device {
    pub child: Child,
    pub log: Arc<Mutex<String>>,
    pub storage: PathBuf,
    pub run: PathBuf,
}

pub fn start(dir: &Path, factory: Option<&Path>) -> Device {
    start_with(dir, factory, true)
}

/// Start with `cmdline` as the kernel command line (`pv_`/`ph_` words).
pub fn start_with_cmdline(dir: &Path, factory: Option<&Path>, cmdline: &str) -> Device {
    launch(dir, factory, true, cmdline)
}

/// [`start`], optionally without `--config` (the test's settings then come
/// from the environment).
pub fn start_with(dir: &Path, factory: Option<&Path>, with_config: bool) -> Device {
    launch(dir, factory, with_config, "")
}

fn launch(dir: &Path, factory: Option<&Path>, with_config: bool, cmdline: &str) -> Device {
    let storage = dir.join("storage");
    let run = dir.join("run");
    let conf = dir.join("pantavisor.config");
    let settings = "PV_SECUREBOOT_MODE=disabled\nPV_LOG_LEVEL=4\n";
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pantavisor"));
    cmd.arg("--storage")
        .arg(&storage)
        .arg("--run-dir")
        .arg(&run);
    if with_config {
        if !conf.exists() {
            std::fs::write(&conf, settings).unwrap();
        }
        cmd.arg("--config").arg(&conf);
    } else {
        cmd.envs(settings.lines().filter_map(|l| l.split_once('=')));
    }
    cmd.args(["--cmdline", cmdline, "--tick-ms", "50"]);
    if let Some(f) = factory {
        cmd.arg("--factory").arg(f);
    }
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env("NO_COLOR", "1")
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let l2 = log.clone();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            eprintln!("  | {line}");
            let mut g = l2.lock().unwrap();
            g.push_str(&line);
            g.push('\n');
        }
    });
    Device {
        child,
        log,
        storage,
        run,
    }
}

impl Device {
    pub fn wait_log(&self, needle: &str, secs: u64) -> bool {
        wait(secs, || self.log.lock().unwrap().contains(needle))
    }
    pub fn log_count(&self, needle: &str) -> usize {
        self.log.lock().unwrap().matches(needle).count()
    }
    pub fn console(&self, rev: &str, name: &str) -> String {
        std::fs::read_to_string(
            self.storage
                .join("logs")
                .join(rev)
                .join(name)
                .join("lxc/console.log"),
        )
        .unwrap_or_default()
    }
    pub fn progress(&self, rev: &str) -> String {
        std::fs::read_to_string(self.storage.join("trails").join(rev).join(".pv/progress"))
            .unwrap_or_default()
    }
    pub fn devmeta(&self, key: &str) -> String {
        std::fs::read_to_string(self.run.join("device-meta").join(key)).unwrap_or_default()
    }
    /// Send `sig` and wait for the exit code.
    pub fn stop_with(mut self, sig: nix::sys::signal::Signal) -> i32 {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "pantavisor did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    /// SIGTERM (reboot) and wait.
    pub fn stop(self) -> i32 {
        self.stop_with(nix::sys::signal::Signal::SIGTERM)
    }
    pub fn wait_exit(&mut self, secs: u64) -> Option<i32> {
        let mut code = None;
        wait(secs, || {
            code = self
                .child
                .try_wait()
                .unwrap()
                .map(|s| s.code().unwrap_or(-1));
            code.is_some()
        });
        code
    }
}

pub fn wait(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// Mount points of this namespace under `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(dir.to_str().unwrap()))
        .map(String::from)
        .collect()
}

/// Loop devices backed by files under `dir`.
pub fn loops_under(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir("/sys/block") else {
        return 0;
    };
    rd.flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("loop/backing_file")).ok())
        .filter(|b| b.contains(dir.to_str().unwrap()))
        .count()
}

/// Processes whose command line mentions `needle`.
pub fn processes_with(needle: &str) -> usize {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return 0;
    };
    rd.flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|c| String::from_utf8_lossy(c).contains(needle))
        .count()
}

/// Everything of the device is gone: no mounts, loop devices or container processes.
pub fn assert_clean(dir: &Path, marker: &str) {
    assert!(
        wait(5, || mounts_under(dir).is_empty()),
        "mounts left: {:#?}",
        mounts_under(dir)
    );
    assert!(wait(5, || loops_under(dir) == 0), "loop devices left");
    assert!(
        wait(5, || processes_with(marker) == 0),
        "container processes left"
    );
}

/// Add a container running `script` (busybox sh, from the rootfs under
/// `d`) to the working tree of `repo` with pv-app, and commit.
pub fn add_app_and_commit(d: &Path, repo: &Path, name: &str, script: &str) {
    let cfg = d.join("pvr-config");
    let r = pvr_core::Repo::open(repo, &cfg).unwrap();
    let cj = d.join(format!("{name}.json"));
    let cmd = serde_json::json!({"Cmd": ["/bin/sh", "-c", script], "Env": ["PATH=/bin"]});
    std::fs::write(&cj, cmd.to_string()).unwrap();
    let pristine = r.pristine().unwrap();
    let env = pv_app::AppEnv {
        checkout: repo,
        pristine: &pristine,
        cache_dir: &cfg.join("cache"),
        progress: &pv_app::NoProgress,
    };
    let opts = pv_app::AppAddOptions {
        from: Some(d.join("rootfs").to_string_lossy().into_owned()),
        source_type: Some("rootfs".parse().unwrap()),
        group: Some("app".into()),
        config_json: Some(cj),
        format_options: Some("-comp gzip".into()),
        ..Default::default()
    };
    pv_app::app_add(&env, name, &opts).unwrap();
    commit(repo, &cfg, |_| {});
}

/// Commit the working tree of `repo` after `edit`.
pub fn commit(repo: &Path, config_dir: &Path, edit: impl FnOnce(&Path)) {
    edit(repo);
    let r = pvr_core::Repo::open(repo, config_dir).unwrap();
    let q = pvr_core::progress::Progress::quiet();
    pvr_core::working::add(&r, &[], false, &q).unwrap();
    pvr_core::commit::commit(&r, Some("update"), &mut std::io::sink(), &q).unwrap();
}

impl Device {
    pub fn socket(&self) -> PathBuf {
        self.run.join("pv-ctrl")
    }

    pub fn ctrl(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        let (s, b) = http::request(&self.socket(), method, path, body).unwrap();
        (s, String::from_utf8_lossy(&b).into_owned())
    }

    /// `GET path` on the control socket, which must answer 200, as JSON.
    pub fn ctrl_json(&self, path: &str) -> serde_json::Value {
        let (s, b) = self.ctrl("GET", path, b"");
        assert_eq!(s, 200, "{path}: {b}");
        serde_json::from_str(&b).unwrap_or_else(|e| panic!("{path}: {e}: {b}"))
    }

    /// The names of the containers the control socket lists.
    pub fn container_names(&self) -> Vec<String> {
        self.ctrl_json("/containers")
            .as_array()
            .expect("/containers is a list")
            .iter()
            .map(|c| {
                c["name"]
                    .as_str()
                    .expect("a container has a name")
                    .to_string()
            })
            .collect()
    }

    /// Upload the committed state of `repo` as `locals/<name>` (objects first).
    pub fn upload(&self, repo: &Path, config_dir: &Path, name: &str) -> String {
        let r = pvr_core::Repo::open(repo, config_dir).unwrap();
        let state = r.pristine().unwrap();
        for id in state.object_ids() {
            let data = std::fs::read(r.objects.path(&id)).unwrap();
            let (s, b) = self.ctrl("PUT", &format!("/objects/{id}"), &data);
            assert_eq!(s, 200, "object {id}: {b}");
        }
        let text = std::fs::read(repo.join(".pvr/json")).unwrap();
        let (s, b) = self.ctrl("PUT", &format!("/steps/locals/{name}"), &text);
        assert_eq!(s, 200, "step: {b}");
        format!("locals/{name}")
    }

    pub fn run_local(&self, rev: &str) -> (u16, String) {
        self.ctrl(
            "POST",
            "/commands",
            format!(r#"{{"op":"LOCAL_RUN","payload":"{rev}"}}"#).as_bytes(),
        )
    }

    /// Wait until the progress of `rev` has `status`.
    pub fn wait_progress(&self, rev: &str, status: &str, secs: u64) -> bool {
        let needle = format!("\"status\":\"{status}\"");
        wait(secs, || self.progress(rev).contains(&needle))
    }

    /// pv_rev and pv_try of the boot env.
    pub fn boot_env(&self) -> (String, String) {
        let raw = std::fs::read(self.storage.join("boot/uboot.txt")).unwrap_or_default();
        let mut rev = String::new();
        let mut try_ = String::new();
        for rec in raw.split(|b| *b == 0).filter(|r| !r.is_empty()) {
            let rec = String::from_utf8_lossy(rec);
            if let Some(v) = rec.strip_prefix("pv_rev=") {
                rev = v.to_string();
            }
            if let Some(v) = rec.strip_prefix("pv_try=") {
                try_ = v.to_string();
            }
        }
        (rev, try_)
    }
}

/// A test that fails half-way must not leave its device running: power it
/// off (SIGINT) and wait, so its containers and mounts go away too.
impl Drop for Device {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::SIGINT);
            let deadline = Instant::now() + Duration::from_secs(15);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
