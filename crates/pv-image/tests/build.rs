//! `pvimage bsp` then `pvr add`/`commit` then `pvimage build`, checked
//! from the outside: the image's partition table, GRUB's code in the MBR
//! and the gap, and the storage inside the ext4 partition (read with
//! debugfs, no mount, no root).

use std::path::{Path, PathBuf};
use std::process::Command;

use pvr_core::progress::Progress;
use pvr_core::Repo;

fn pvimage() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pvimage"))
}

fn run(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A checkout with a BSP (fake kernel, busybox-static as init) committed.
fn checkout(dir: &Path, cmdline: &str) -> PathBuf {
    let co = dir.join("device");
    let cfg = dir.join("pvr-config");
    std::fs::create_dir_all(&co).unwrap();
    let repo = Repo::init(&co, &cfg, None, None).unwrap();
    let kernel = dir.join("vmlinuz");
    std::fs::write(&kernel, b"not really a kernel").unwrap();
    run(pvimage()
        .args(["bsp", "--kernel"])
        .arg(&kernel)
        .args([
            "--pantavisor",
            "/bin/busybox",
            "--cmdline",
            cmdline,
            "--out",
        ])
        .arg(&co));
    let q = Progress::quiet();
    pvr_core::working::add(&repo, &[".".into()], false, &q).unwrap();
    pvr_core::commit::commit(&repo, Some("bsp"), &mut std::io::sink(), &q).unwrap();
    co
}

fn debugfs(part: &Path, req: &str) -> String {
    let o = Command::new("debugfs")
        .args(["-R", req])
        .arg(part)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn bsp_then_image() {
    if !pv_testkit::require_tools(&[
        "mkfs.ext4",
        "debugfs",
        "e2label",
        "grub-mkimage",
        "/usr/lib/grub/i386-pc/boot.img",
        "/bin/busybox",
    ]) {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let co = checkout(d.path(), "console=ttyS0 quiet pv_x=1");
    let run_json = std::fs::read_to_string(co.join("bsp/run.json")).unwrap();
    assert!(
        run_json.contains(r#""cmdline":"console=ttyS0 quiet pv_x=1""#),
        "{run_json}"
    );
    assert!(run_json.contains(r#""linux":"kernel.img""#));
    let state = std::fs::read_to_string(co.join(".pvr/json")).unwrap();
    for k in ["bsp/kernel.img", "bsp/pantavisor", "bsp/run.json"] {
        assert!(state.contains(k), "{k} not committed: {state}");
    }

    let img = d.path().join("disk.img");
    run(pvimage()
        .args(["build", "--state"])
        .arg(&co)
        .args(["--size", "64M", "--out"])
        .arg(&img));
    let bytes = std::fs::read(&img).unwrap();
    assert_eq!(bytes.len(), 64 << 20);
    // MBR: GRUB's boot code, signature, one active Linux partition at 1 MiB
    let boot = std::fs::read("/usr/lib/grub/i386-pc/boot.img").unwrap();
    assert_eq!(bytes[..440], boot[..440]);
    assert_eq!(bytes[510..512], [0x55, 0xaa]);
    let p = &bytes[446..462];
    assert_eq!(p[0], 0x80);
    assert_eq!(p[4], 0x83);
    assert_eq!(u32::from_le_bytes(p[8..12].try_into().unwrap()), 2048);
    assert_eq!(
        u32::from_le_bytes(p[12..16].try_into().unwrap()),
        (64 << 20) / 512 - 2048
    );
    // core.img from sector 1 (diskboot's first bytes are code, not zeros)
    assert!(bytes[512..1024].iter().any(|b| *b != 0));
    // the ext4 partition, cut out for debugfs
    let part = d.path().join("part.img");
    std::fs::write(&part, &bytes[1 << 20..]).unwrap();
    let label = Command::new("e2label").arg(&part).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&label.stdout).trim(), "pvroot");
    let env = debugfs(&part, "cat /boot/grubenv");
    assert!(
        env.starts_with("# GRUB Environment Block\npv_rev=0\n"),
        "{env}"
    );
    let progress = debugfs(&part, "cat /trails/0/.pv/progress");
    assert!(
        progress.contains("\"DONE\"") && progress.contains("Factory revision"),
        "{progress}"
    );
    assert!(debugfs(&part, "ls /trails/0/.pv").contains("done"));
    let cmdline = debugfs(&part, "cat /trails/0/.pv/pv-cmdline");
    assert!(
        cmdline.contains("pv_cmdline=console=ttyS0 quiet pv_x=1\n"),
        "{cmdline}"
    );
    let kernel = debugfs(&part, "cat /trails/0/.pv/pv-kernel.img");
    assert_eq!(kernel, "not really a kernel");
    let cfg = debugfs(&part, "cat /trails/0/.pvr/config");
    assert!(cfg.contains("\"/storage/objects\""), "{cfg}");
    assert!(debugfs(&part, "cat /boot/grub/grub.cfg").contains("save_env"));
    // the pool holds each object once, hard-linked into the trail
    let stat = debugfs(&part, "stat /trails/0/bsp/kernel.img");
    assert!(stat.contains("Links: 3"), "{stat}"); // pool, bsp/, .pv/
                                                  // no temp file left beside the image
    let left: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("pvimage"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn bad_inputs_change_nothing() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("co");
    // a dynamic pantavisor cannot be PID 1
    let o = pvimage()
        .args([
            "bsp",
            "--kernel",
            "/bin/sh",
            "--pantavisor",
            "/bin/sh",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("dynamically linked"));
    assert!(!out.exists());
    // a state without a BSP is not bootable; no image is left
    let co = d.path().join("app-only");
    std::fs::create_dir_all(&co).unwrap();
    let repo = Repo::init(&co, &d.path().join("cfg"), None, None).unwrap();
    std::fs::write(co.join("hello.json"), b"{}").unwrap();
    let q = Progress::quiet();
    pvr_core::working::add(&repo, &[".".into()], false, &q).unwrap();
    pvr_core::commit::commit(&repo, None, &mut std::io::sink(), &q).unwrap();
    let img = d.path().join("x.img");
    let o = pvimage()
        .args(["build", "--state"])
        .arg(&co)
        .arg("--out")
        .arg(&img)
        .output()
        .unwrap();
    if pv_testkit::require_tools(&[
        "mkfs.ext4",
        "grub-mkimage",
        "/usr/lib/grub/i386-pc/boot.img",
    ]) {
        assert!(!o.status.success());
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("no bootable BSP"),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    assert!(!img.exists());
    let mut left: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["app-only", "cfg"]);
}

/// The initramfs's files: name → (mode, bytes).
fn initramfs_files(path: &Path) -> std::collections::BTreeMap<String, (u32, Vec<u8>)> {
    use std::io::Read;
    let gz = std::fs::File::open(path).unwrap();
    let mut r: Box<dyn Read> = Box::new(flate2::read::GzDecoder::new(gz));
    let mut out = std::collections::BTreeMap::new();
    loop {
        let mut e = cpio::newc::Reader::new(r).unwrap();
        if e.entry().is_trailer() {
            return out;
        }
        let (name, mode) = (e.entry().name().to_string(), e.entry().mode());
        let mut bytes = vec![];
        e.read_to_end(&mut bytes).unwrap();
        out.insert(name, (mode, bytes));
        r = Box::new(e.finish().unwrap());
    }
}

#[test]
fn the_initramfs_carries_pv_xconnect_and_pv_hub_agent_beside_init() {
    if !pv_testkit::require_tool("/bin/busybox") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let kernel = d.path().join("vmlinuz");
    std::fs::write(&kernel, b"not really a kernel").unwrap();
    let busybox = std::fs::read("/bin/busybox").unwrap();
    // two static stand-ins, the daemon's bytes told apart from init's
    let bins = d.path().join("bins");
    std::fs::create_dir(&bins).unwrap();
    std::fs::copy("/bin/busybox", bins.join("pantavisor")).unwrap();
    let mut x = busybox.clone();
    x.extend_from_slice(b"xconnect");
    std::fs::write(bins.join("pv-xconnect"), &x).unwrap();
    let mut agent = busybox.clone();
    agent.extend_from_slice(b"hub-agent");
    std::fs::write(bins.join("pv-hub-agent"), &agent).unwrap();

    // found beside --pantavisor
    let co = d.path().join("beside");
    run(pvimage()
        .args(["bsp", "--kernel"])
        .arg(&kernel)
        .arg("--pantavisor")
        .arg(bins.join("pantavisor"))
        .arg("--out")
        .arg(&co));
    let files = initramfs_files(&co.join("bsp/pantavisor"));
    assert_eq!(files["init"].1, busybox);
    assert_eq!(files["pv-xconnect"].0 & 0o7777, 0o755);
    assert_eq!(files["pv-xconnect"].1, x);
    assert_eq!(files["pv-hub-agent"].0 & 0o7777, 0o755);
    assert_eq!(files["pv-hub-agent"].1, agent);

    // none beside it: left out, with a warning
    let co = d.path().join("alone");
    let o = pvimage()
        .args(["bsp", "--kernel"])
        .arg(&kernel)
        .args(["--pantavisor", "/bin/busybox", "--out"])
        .arg(&co)
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no /bin/pv-xconnect"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let files = initramfs_files(&co.join("bsp/pantavisor"));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no /bin/pv-hub-agent"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(files.contains_key("init") && !files.contains_key("pv-xconnect"));
    assert!(!files.contains_key("pv-hub-agent"));

    // named, and it must be static too
    let o = pvimage()
        .args(["bsp", "--kernel"])
        .arg(&kernel)
        .args([
            "--pantavisor",
            "/bin/busybox",
            "--xconnect",
            "/bin/sh",
            "--out",
        ])
        .arg(d.path().join("dynamic"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("dynamically linked"));
}
