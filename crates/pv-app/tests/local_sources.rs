//! `app add` from a rootfs directory, a rootfs tarball, a `docker save`
//! tarball and an OCI layout; whiteouts, reproducibility, unsafe layers,
//! `app install` without rebuild, data containers.

mod common;

use std::path::Path;

use common::*;
use pv_app::{
    app_add, app_install, app_ls, AppAddOptions, AppError, AppInstallOptions, SourceType,
    SquashOutcome,
};

fn tools() -> bool {
    pv_testkit::require_tools(&[BUSYBOX, "mksquashfs", "unsquashfs"])
}

fn add_opts(from: &Path) -> AppAddOptions {
    AppAddOptions {
        from: Some(from.display().to_string()),
        ..Default::default()
    }
}

fn sha_of(p: &Path) -> String {
    sha(&std::fs::read(p).unwrap())
}

/// Two layers: busybox rootfs, then a layer that deletes `etc/removed`,
/// makes `opq/` opaque (adding `opq/new`) and adds `etc/added`.
fn two_layers(tmp: &Path) -> Vec<Vec<u8>> {
    let rootfs = tmp.join("layer0");
    busybox_rootfs(&rootfs);
    vec![
        layer_of_dir(&rootfs),
        layer(&[
            E::Dir("etc"),
            E::File("etc/.wh.removed", b""),
            E::File("etc/added", b"upper\n"),
            E::Dir("opq"),
            E::File("opq/.wh..wh..opq", b""),
            E::File("opq/new", b"new\n"),
        ]),
    ]
}

fn check_image_rootfs(app: &Path) {
    let l = squash_listing(&app.join("root.squashfs"));
    for p in [
        "/bin/busybox",
        "/bin/sh",
        "/etc/added",
        "/etc/hostname",
        "/etc/hostname.link",
        "/opq/new",
        "/proc",
        "/sys",
        "/dev",
        "/tmp",
        "/var/tmp",
        "/run",
        "/var/run",
    ] {
        assert!(has_path(&l, p), "{p} missing from {l:#?}");
    }
    for p in [
        "/etc/removed",
        "/opq/old",
        "/usr/bin/qemu-arm-static",
        "/etc/.wh.removed",
        "/opq/.wh..wh..opq",
    ] {
        assert!(!has_path(&l, p), "{p} should be gone: {l:#?}");
    }
    assert!(
        l.iter()
            .any(|x| x.starts_with("drwxr-xr-x 0/0 ") && x.ends_with(" ")),
        "root: {l:#?}"
    );
}

#[test]
fn rootfs_directory_and_tarball() {
    if !tools() {
        return;
    }
    let co = Checkout::new();
    let (dir, cache) = (co.dir(), co.cache());
    let env = co.env(&dir, &cache);
    let rootfs = co.tmp.path().join("rootfs");
    busybox_rootfs(&rootfs);
    let r = app_add(&env, "/web/", &add_opts(&rootfs)).unwrap();
    assert_eq!(r.name, "web");
    let app = dir.join("web");
    let l = squash_listing(&app.join("root.squashfs"));
    assert!(
        has_path(&l, "/bin/busybox") && has_path(&l, "/bin/sh"),
        "{l:#?}"
    );
    // a plain rootfs is squashed as it is (no runtime dirs added)
    assert!(!has_path(&l, "/proc"));
    let digest = std::fs::read_to_string(app.join("root.squashfs.rootfs-digest")).unwrap();
    assert_eq!(
        digest,
        format!("sha256:{}", sha_of(&app.join("root.squashfs")))
    );
    let src = std::fs::read_to_string(app.join("src.json")).unwrap();
    assert!(src.starts_with("{\n  \"#spec\": \"service-manifest-src@1\",\n  \"template\": \"builtin-lxc-docker\",\n"), "{src}");
    assert!(src.contains(&format!("\"rootfs_digest\": \"{digest}\"")));
    assert!(r
        .messages
        .contains(&"Setting new platform to default group \"app\"".to_string()));
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(app.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["group"], "app");
    let conf = std::fs::read_to_string(app.join("lxc.container.conf")).unwrap();
    assert!(conf.contains("lxc.init.cmd = /sbin/init\n"));

    // same tree → same squashfs
    app_add(&env, "web2", &add_opts(&rootfs)).unwrap();
    assert_eq!(
        sha_of(&app.join("root.squashfs")),
        sha_of(&dir.join("web2/root.squashfs"))
    );

    // a gzipped tarball of it, as --type rootfs
    let tgz = co.tmp.path().join("rootfs.tgz");
    std::fs::write(&tgz, gzip(&layer_of_dir(&rootfs))).unwrap();
    let mut o = add_opts(&tgz);
    o.source_type = Some(SourceType::Rootfs);
    app_add(&env, "fromtar", &o).unwrap();
    let l = squash_listing(&dir.join("fromtar/root.squashfs"));
    assert!(
        has_path(&l, "/etc/hostname.link") && has_path(&l, "/bin/cat"),
        "{l:#?}"
    );
    assert_eq!(app_ls(&dir).unwrap(), ["fromtar", "web", "web2"]);
}

#[test]
fn docker_archive_and_oci_layout_give_the_same_rootfs() {
    if !tools() {
        return;
    }
    let co = Checkout::new();
    let (dir, cache) = (co.dir(), co.cache());
    let env = co.env(&dir, &cache);
    let layers = two_layers(co.tmp.path());

    let tar = co.tmp.path().join("img.tar");
    let id = docker_archive(&tar, "example/img:1.0", &layers);
    let mut o = add_opts(&tar);
    o.volumes = vec![
        "ovl:/var/lib/x:permanent".into(),
        "/cfg:revision@disk1".into(),
    ];
    o.args = vec!["PV_ROLES=mgmt".into()];
    let r = app_add(&env, "arch", &o).unwrap();
    let app = dir.join("arch");
    check_image_rootfs(&app);
    let want_digest = format!("{}@{id}", tar.display());
    assert_eq!(
        std::fs::read_to_string(app.join("root.squashfs.docker-digest")).unwrap(),
        want_digest
    );
    assert_eq!(r.digest.as_deref(), Some(want_digest.as_str()));
    let src: serde_json::Value =
        serde_json::from_slice(&std::fs::read(app.join("src.json")).unwrap()).unwrap();
    assert_eq!(src["docker_tag"], "latest");
    assert_eq!(src["docker_config"]["WorkingDir"], "/");
    assert_eq!(src["persistence"]["ovl:/var/lib/x"], "permanent");
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(app.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["storage"]["docker--data"]["persistence"], "permanent");
    assert_eq!(
        run["storage"]["dockerovl--var-lib-x"]["persistence"],
        "permanent"
    );
    assert_eq!(run["storage"]["docker--cfg"]["disk"], "disk1");
    assert_eq!(run["roles"], "mgmt");
    let conf = std::fs::read_to_string(app.join("lxc.container.conf")).unwrap();
    assert!(
        conf.contains("lxc.init.cmd = /bin/sh \"-c\" \"echo hi\"\n"),
        "{conf}"
    );

    let layout = co.tmp.path().join("layout");
    let mdigest = oci_layout(&layout, "v1", &layers);
    let r = app_add(
        &env,
        "oci",
        &add_opts(Path::new(&format!("oci:{}:v1", layout.display()))),
    )
    .unwrap();
    assert_eq!(
        r.digest,
        Some(format!("oci:{}@{mdigest}", layout.display()))
    );
    check_image_rootfs(&dir.join("oci"));
    // a plain layout directory path works too
    app_add(&env, "oci2", &add_opts(&layout)).unwrap();

    // newer `docker save`: an OCI layout inside the tarball (plus manifest.json)
    std::fs::write(layout.join("manifest.json"), b"[]").unwrap();
    let oci_tar = co.tmp.path().join("oci-in.tar");
    std::fs::write(&oci_tar, layer_of_dir(&layout)).unwrap();
    let r = app_add(&env, "ocitar", &add_opts(&oci_tar)).unwrap();
    assert_eq!(r.digest, Some(format!("{}@{mdigest}", oci_tar.display())));

    let a = sha_of(&app.join("root.squashfs"));
    assert_eq!(a, sha_of(&dir.join("ocitar/root.squashfs")));
    assert_eq!(
        a,
        sha_of(&dir.join("oci/root.squashfs")),
        "same layers, same squashfs"
    );
    assert_eq!(a, sha_of(&dir.join("oci2/root.squashfs")));
}

#[test]
fn install_skips_rebuild_when_digest_matches() {
    if !tools() {
        return;
    }
    let co = Checkout::new();
    let (dir, cache) = (co.dir(), co.cache());
    let env = co.env(&dir, &cache);
    let layout = co.tmp.path().join("layout");
    oci_layout(&layout, "latest", &two_layers(co.tmp.path()));
    app_add(&env, "a", &add_opts(&layout)).unwrap();
    let sq = dir.join("a/root.squashfs");
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&sq).unwrap());
    let r = app_install(&env, "a", &AppInstallOptions::default()).unwrap();
    assert_eq!(r.squashfs, SquashOutcome::UpToDate);
    assert_eq!(
        ino,
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&sq).unwrap())
    );
    // add on an existing app is a re-install too
    let r = app_add(&env, "a", &add_opts(&layout)).unwrap();
    assert_eq!(r.squashfs, SquashOutcome::UpToDate);
    // a changed digest file forces a rebuild from the pinned digest
    std::fs::write(dir.join("a/root.squashfs.docker-digest"), "x").unwrap();
    let r = app_install(&env, "a", &AppInstallOptions::default()).unwrap();
    assert!(matches!(r.squashfs, SquashOutcome::Built { .. }));
    check_image_rootfs(&dir.join("a"));
    // switching to a data container drops lxc.container.conf
    let o = AppInstallOptions {
        runlevel: Some("data".into()),
        ..Default::default()
    };
    app_install(&env, "a", &o).unwrap();
    assert!(!dir.join("a/lxc.container.conf").exists());
    assert!(std::fs::read_to_string(dir.join("a/src.json"))
        .unwrap()
        .contains("\"PV_RUNLEVEL\": \"data\""));
}

#[test]
fn data_container_by_status_goal() {
    if !tools() {
        return;
    }
    let co = Checkout::new();
    let (dir, cache) = (co.dir(), co.cache());
    let env = co.env(&dir, &cache);
    let rootfs = co.tmp.path().join("rootfs");
    busybox_rootfs(&rootfs);
    let mut o = add_opts(&rootfs);
    o.status_goal = Some("MOUNTED".into());
    o.group = Some("data".into());
    app_add(&env, "d", &o).unwrap();
    assert!(!dir.join("d/lxc.container.conf").exists());
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("d/run.json")).unwrap()).unwrap();
    assert!(run.get("config").is_none() && run.get("type").is_none());
    assert_eq!(run["status_goal"], "MOUNTED");
}

#[test]
fn unsafe_layers_are_refused_and_leave_nothing() {
    if !tools() {
        return;
    }
    let co = Checkout::new();
    let (dir, cache) = (co.dir(), co.cache());
    let env = co.env(&dir, &cache);
    let before = co.listing();

    let tar = co.tmp.path().join("evil.tar");
    docker_archive(
        &tar,
        "evil:latest",
        &[layer(&[E::Dir("etc"), E::File("../evil", b"x")])],
    );
    let e = app_add(&env, "evil", &add_opts(&tar)).unwrap_err();
    assert!(matches!(e, AppError::UnsafeEntry { .. }), "{e}");
    assert!(e.to_string().contains("../evil"), "{e}");
    assert!(!co.tmp.path().join("evil").exists());
    assert_eq!(co.listing(), before);

    let tar = co.tmp.path().join("abs.tar");
    docker_archive(&tar, "abs:latest", &[layer(&[E::File("/etc/evil", b"x")])]);
    let e = app_add(&env, "abs", &add_opts(&tar)).unwrap_err();
    assert!(e.to_string().contains("absolute path"), "{e}");
    assert_eq!(co.listing(), before);

    // A symlink to an absolute path outside: writes through it stay inside
    // the rootfs (as in a chroot), nothing lands outside.
    let outside = co.tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let target = outside.display().to_string();
    let tar = co.tmp.path().join("link.tar");
    docker_archive(
        &tar,
        "link:latest",
        &[
            layer(&[E::Symlink("escape", &target)]),
            layer(&[E::File("escape/pwned", b"x")]),
        ],
    );
    app_add(&env, "link", &add_opts(&tar)).unwrap();
    assert!(!outside.join("pwned").exists());
    let l = squash_listing(&dir.join("link/root.squashfs"));
    assert!(has_path(&l, &format!("{target}/pwned")), "{l:#?}");

    // bad input is refused before anything is written
    let mut o = add_opts(&tar);
    o.group = Some("a".into());
    o.runlevel = Some("b".into());
    assert_eq!(app_add(&env, "x", &o).unwrap_err().exit_code(), 5);
    assert_eq!(
        app_add(&env, "x", &AppAddOptions::default())
            .unwrap_err()
            .exit_code(),
        4
    );
    let mut o = add_opts(&tar);
    o.volumes = vec!["novalue".into()];
    assert!(matches!(
        app_add(&env, "x", &o),
        Err(AppError::BadVolume(_))
    ));
    assert!(!dir.join("x").exists());
}

#[test]
fn app_on_a_base_app_gets_an_overlay() {
    if !tools() {
        return;
    }
    let co = Checkout::new();
    let (dir, cache) = (co.dir(), co.cache());
    let env = co.env(&dir, &cache);
    let tmp = co.tmp.path();
    let base_layers = two_layers(tmp);
    let base_layout = tmp.join("base");
    oci_layout(&base_layout, "latest", &base_layers);
    let mut o = add_opts(&base_layout);
    o.group = Some("data".into());
    o.status_goal = Some("MOUNTED".into());
    app_add(&env, "base", &o).unwrap();

    let mut layers = base_layers.clone();
    layers.push(layer(&[
        E::Dir("etc"),
        E::File("etc/.wh.hostname.link", b""),
        E::File("etc/hostname", b"changed\n"),
        E::File("etc/extra", b"extra\n"),
    ]));
    let app_layout = tmp.join("app");
    let m = oci_layout(&app_layout, "latest", &layers);
    let mut o = add_opts(&app_layout);
    o.base = Some("base".into());
    let r = app_add(&env, "app", &o).unwrap();
    let app = dir.join("app");
    assert!(!app.join("root.squashfs").exists());
    assert_eq!(
        std::fs::read_to_string(app.join("root.ovl.squashfs.docker-digest")).unwrap(),
        format!("{}@{m}", app_layout.display())
    );
    assert_eq!(r.digest, Some(format!("{}@{m}", app_layout.display())));
    let l = squash_listing(&app.join("root.ovl.squashfs"));
    assert!(
        has_path(&l, "/etc/extra") && has_path(&l, "/etc/hostname"),
        "{l:#?}"
    );
    assert!(
        l.iter()
            .any(|x| x.starts_with("c") && x.ends_with(" /etc/hostname.link")),
        "{l:#?}"
    );
    assert!(
        !has_path(&l, "/bin/busybox") && !has_path(&l, "/etc/added"),
        "{l:#?}"
    );
    let src: serde_json::Value =
        serde_json::from_slice(&std::fs::read(app.join("src.json")).unwrap()).unwrap();
    let base_src: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("base/src.json")).unwrap()).unwrap();
    assert_eq!(src["base"], "base");
    assert_eq!(src["docker_digest"], base_src["docker_digest"]);
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(app.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["root-volume"], "root.ovl.squashfs");
    let conf = std::fs::read_to_string(app.join("lxc.container.conf")).unwrap();
    assert!(conf.contains(
        "lxc.rootfs.path = overlayfs:/volumes/app/root.ovl.squashfs:/volumes/base/root.squashfs:/volumes/app/lxc-overlay/upper\n"
    ), "{conf}");
    // reinstall: nothing to rebuild
    let r = app_install(&env, "app", &AppInstallOptions::default()).unwrap();
    assert_eq!(r.squashfs, SquashOutcome::UpToDate);
}

#[test]
fn update_patch_then_newbase() {
    if !tools() {
        return;
    }
    let co = Checkout::new();
    let (dir, cache) = (co.dir(), co.cache());
    let env = co.env(&dir, &cache);
    let tmp = co.tmp.path();
    let layers = two_layers(tmp);
    let a = tmp.join("a");
    oci_layout(&a, "latest", &layers);
    app_add(&env, "app", &add_opts(&a)).unwrap();
    let sq = dir.join("app/root.squashfs");
    let before = sha_of(&sq);

    let mut more = layers.clone();
    more.push(layer(&[E::Dir("etc"), E::File("etc/extra", b"extra\n")]));
    let b = tmp.join("b");
    let mb = oci_layout(&b, "latest", &more);
    let up = |patch: bool, newbase: bool| pv_app::AppUpdateOptions {
        from: Some(b.display().to_string()),
        patch,
        newbase,
        ..Default::default()
    };
    pv_app::app_update(&env, "app", &up(true, false)).unwrap();
    assert_eq!(sha_of(&sq), before, "the base squashfs stays");
    let l = squash_listing(&dir.join("app/root.ovl.squashfs"));
    assert!(
        has_path(&l, "/etc/extra") && !has_path(&l, "/bin/busybox"),
        "{l:#?}"
    );
    let src: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("app/src.json")).unwrap()).unwrap();
    assert_eq!(src["docker_ovl_digest"], format!("{}@{mb}", b.display()));
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("app/run.json")).unwrap()).unwrap();
    assert_eq!(run["volumes"], serde_json::json!(["root.ovl.squashfs"]));

    pv_app::app_update(&env, "app", &up(false, true)).unwrap();
    assert!(!dir.join("app/root.ovl.squashfs").exists());
    assert!(!dir.join("app/root.ovl.squashfs.docker-digest").exists());
    assert!(has_path(&squash_listing(&sq), "/etc/extra"));
    let src = std::fs::read_to_string(dir.join("app/src.json")).unwrap();
    assert!(!src.contains("docker_ovl_digest"), "{src}");
}
