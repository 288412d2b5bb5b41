//! `app add` / `app update` from a real registry on loopback: Debian's
//! `docker-registry` serves, `skopeo` pushes images written here as OCI
//! layouts (a single image and a multi-arch index).

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use pv_app::{app_add, app_update, AppAddOptions, AppUpdateOptions, SquashOutcome};

/// A registry process, killed on drop.
struct RegistryProc {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for RegistryProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RegistryProc {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cfg = dir.path().join("config.yml");
        std::fs::write(
            &cfg,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let reg = RegistryProc {
            child,
            port,
            _dir: dir,
        };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "registry did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        reg
    }

    fn push(&self, src: &str, dest: &str, all: bool) {
        let mut c = Command::new("timeout");
        c.args([
            "120",
            "skopeo",
            "--insecure-policy",
            "copy",
            "--dest-tls-verify=false",
        ]);
        if all {
            c.arg("--all");
        }
        let out = c
            .arg(src)
            .arg(format!("docker://127.0.0.1:{}/{dest}", self.port))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn tools() -> bool {
    pv_testkit::require_tools(&[
        BUSYBOX,
        "mksquashfs",
        "unsquashfs",
        "docker-registry",
        "skopeo",
        "timeout",
    ])
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn marker_layer(tmp: &Path, name: &str) -> Vec<u8> {
    let root: PathBuf = tmp.join(format!("rootfs-{name}"));
    busybox_rootfs(&root);
    std::fs::write(root.join(format!("etc/{name}")), name).unwrap();
    layer_of_dir(&root)
}

#[test]
fn add_and_update_from_registry() {
    if !tools() {
        return;
    }
    let reg = RegistryProc::start();
    let co = Checkout::new();
    let (dir, cache) = (co.dir(), co.cache());
    let env = co.env(&dir, &cache);
    let tmp = co.tmp.path();

    let layout = tmp.join("single");
    let manifest = oci_layout(&layout, "v1", &[marker_layer(tmp, "one")]);
    reg.push(
        &format!("oci:{}:v1", layout.display()),
        "team/app:v1",
        false,
    );
    let from = format!("127.0.0.1:{}/team/app:v1", reg.port);
    let r = app_add(
        &env,
        "app",
        &AppAddOptions {
            from: Some(from.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    let name = format!("127.0.0.1:{}/team/app", reg.port);
    let digest = format!("{name}@{manifest}");
    assert_eq!(r.digest.as_deref(), Some(digest.as_str()));
    assert_eq!(
        std::fs::read_to_string(dir.join("app/root.squashfs.docker-digest")).unwrap(),
        digest
    );
    let src = read_json(&dir.join("app/src.json"));
    assert_eq!(src["docker_name"], name.as_str());
    assert_eq!(src["docker_tag"], "v1");
    assert_eq!(src["docker_config"]["Cmd"][2], "echo hi");
    let l = squash_listing(&dir.join("app/root.squashfs"));
    assert!(
        has_path(&l, "/etc/one") && has_path(&l, "/bin/busybox"),
        "{l:#?}"
    );
    // the layer went to the cache as <digest>.tar.gz
    let cached: Vec<_> = std::fs::read_dir(&cache).unwrap().flatten().collect();
    assert_eq!(cached.len(), 1);
    assert!(cached[0].file_name().to_string_lossy().ends_with(".tar.gz"));

    // update with the same tag: same digest, nothing rebuilt
    let r = app_update(&env, "app", &AppUpdateOptions::default()).unwrap();
    assert_eq!(r.squashfs, SquashOutcome::UpToDate);
    // push a new image under the tag: update rebuilds
    let layout2 = tmp.join("single2");
    let manifest2 = oci_layout(&layout2, "v1", &[marker_layer(tmp, "two")]);
    reg.push(
        &format!("oci:{}:v1", layout2.display()),
        "team/app:v1",
        false,
    );
    let r = app_update(&env, "app", &AppUpdateOptions::default()).unwrap();
    assert!(matches!(r.squashfs, SquashOutcome::Built { .. }));
    assert_eq!(r.digest, Some(format!("{name}@{manifest2}")));
    let l = squash_listing(&dir.join("app/root.squashfs"));
    assert!(
        has_path(&l, "/etc/two") && !has_path(&l, "/etc/one"),
        "{l:#?}"
    );

    // an unknown image is an error naming it, and leaves nothing behind
    let e = app_add(
        &env,
        "missing",
        &AppAddOptions {
            from: Some(format!("127.0.0.1:{}/nope:v1", reg.port)),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
    assert!(!dir.join("missing").exists());
}

#[test]
fn multi_arch_index_platform_selection() {
    if !tools() {
        return;
    }
    let reg = RegistryProc::start();
    let co = Checkout::new();
    let (dir, cache) = (co.dir(), co.cache());
    let tmp = co.tmp.path();
    let layout = tmp.join("multi");
    let arm = oci_layout_multiarch(
        &layout,
        "v1",
        &[marker_layer(tmp, "amd64")],
        &[marker_layer(tmp, "arm64")],
    );
    reg.push(&format!("oci:{}:v1", layout.display()), "multi:v1", true);
    let from = format!("127.0.0.1:{}/multi:v1", reg.port);

    // --platform
    let env = co.env(&dir, &cache);
    let r = app_add(
        &env,
        "arm",
        &AppAddOptions {
            from: Some(from.clone()),
            platform: Some("linux/arm64".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(r.platform.as_deref(), Some("linux/arm64"));
    assert!(r.digest.unwrap().ends_with(&arm));
    assert_eq!(
        read_json(&dir.join("arm/src.json"))["docker_platform"],
        "linux/arm64"
    );
    let l = squash_listing(&dir.join("arm/root.squashfs"));
    assert!(
        has_path(&l, "/etc/arm64") && !has_path(&l, "/etc/amd64"),
        "{l:#?}"
    );

    // _hostconfig/pvr/docker.json in the pristine state, with a variant
    let mut co2 = Checkout::new();
    co2.state.insert(
        "_hostconfig/pvr/docker.json",
        serde_json::json!({"platforms": ["linux/arm/v7", "linux/arm64/v8"]}),
    );
    let (dir2, cache2) = (co2.dir(), co2.cache());
    let env2 = co2.env(&dir2, &cache2);
    let add = |name: &str| {
        app_add(
            &env2,
            name,
            &AppAddOptions {
                from: Some(from.clone()),
                ..Default::default()
            },
        )
        .unwrap()
    };
    let r = add("hc");
    assert_eq!(r.platform.as_deref(), Some("linux/arm64/v8"));
    // no platform configured: the registry default (linux/amd64)
    let env = co.env(&dir, &cache);
    let r = app_add(
        &env,
        "default",
        &AppAddOptions {
            from: Some(from.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(r.platform, None);
    let l = squash_listing(&dir.join("default/root.squashfs"));
    assert!(has_path(&l, "/etc/amd64"), "{l:#?}");

    // the same multi-arch index from the OCI layout on disk
    let r = app_add(
        &env,
        "local",
        &AppAddOptions {
            from: Some(format!("oci:{}:v1", layout.display())),
            platform: Some("linux/arm64/v8".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(r.platform.as_deref(), Some("linux/arm64/v8"));
    assert_eq!(
        std::fs::read(dir.join("local/root.squashfs")).unwrap(),
        std::fs::read(dir.join("arm/root.squashfs")).unwrap()
    );
}
