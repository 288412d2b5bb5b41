//! Transitions on every backend, on real files: round trips, atomic
//! replacement, corrupt files and an interrupted write.

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use pv_boot::{
    BootEnv, BootError, BootState, EnvFormat, EnvVars, FormatError, GrubEnv, UbootEnv,
    UbootTextEnv, GRUB_BLOCK_SIZE, UBOOT_FILE_SIZE,
};

fn backends(dir: &Path) -> Vec<Box<dyn BootEnv>> {
    vec![
        Box::new(UbootEnv::in_storage(dir)),
        Box::new(GrubEnv::in_storage(dir)),
        Box::new(UbootTextEnv::new(dir.join("boot").join("uboot-text.txt"))),
    ]
}

fn temp_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| pv_fs::is_temp_name(n))
        .collect()
}

#[test]
fn update_cycle_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    for env in backends(dir.path()) {
        let name = env.path().display().to_string();
        // Missing file: empty env, factory revision.
        assert_eq!(env.read().unwrap(), EnvVars::new(), "{name}");
        assert_eq!(env.boot().unwrap(), "0", "{name}");
        assert!(!env.path().exists(), "boot must not write an unchanged env");

        env.commit("0").unwrap();
        assert_eq!(env.state().unwrap().pv_rev.as_deref(), Some("0"));

        // A successful update: install, try-boot, commit.
        env.install("1").unwrap();
        let s = env.state().unwrap();
        assert!(s.update_in_progress() && !s.trying_update("0"));
        assert_eq!(env.boot().unwrap(), "1", "{name}");
        assert!(env.state().unwrap().trying_update("1"));
        env.commit("1").unwrap();
        assert_eq!(
            env.state().unwrap(),
            BootState {
                pv_rev: Some("1".into()),
                pv_try: None,
                pv_trying: None
            },
            "{name}"
        );
        assert_eq!(env.boot().unwrap(), "1");

        // A failed update: the try boots once, then the bootloader falls
        // back and the runtime clears the try.
        env.install("locals/x").unwrap();
        assert_eq!(env.boot().unwrap(), "locals/x");
        assert_eq!(env.boot().unwrap(), "1");
        let s = env.state().unwrap();
        assert!(s.update_in_progress() && !s.trying_update("1"));
        env.fail().unwrap();
        assert!(!env.state().unwrap().update_in_progress());

        // Re-installing a revision name that was attempted before is a
        // fresh try.
        env.install("locals/x").unwrap();
        assert_eq!(env.boot().unwrap(), "locals/x", "{name}");
        assert!(temp_files(&dir.path().join("boot")).is_empty());
    }
}

#[test]
fn exact_file_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let uboot = UbootEnv::in_storage(dir.path());
    uboot.commit("0").unwrap();
    let bytes = fs::read(uboot.path()).unwrap();
    assert_eq!(bytes.len(), UBOOT_FILE_SIZE);
    assert!(bytes.starts_with(b"pv_rev=0\0\0\0"));
    let grub = GrubEnv::in_storage(dir.path());
    grub.commit("0").unwrap();
    assert_eq!(fs::read(grub.path()).unwrap().len(), GRUB_BLOCK_SIZE);
    assert_eq!(
        fs::metadata(uboot.path()).unwrap().mode() & 0o777,
        0o600,
        "uboot.txt keeps the original's 0600"
    );
}

/// The fixed-size envs (GRUB block, U-Boot file) are rewritten in place: a
/// bootloader reading the filesystem without its journal must find the
/// same inode and blocks after a power cut. A file whose size changes (the
/// text env) is replaced by rename.
#[test]
fn transitions_rewrite_fixed_size_envs_in_place_and_keep_foreign_variables() {
    let dir = tempfile::tempdir().unwrap();
    for env in backends(dir.path()) {
        let name = env.path().display().to_string();
        let fixed = !name.ends_with("uboot-text.txt");
        env.write(&EnvVars::from_pairs([("bootdelay", "3"), ("pv_rev", "0")]))
            .unwrap();
        let ino = fs::metadata(env.path()).unwrap().ino();
        env.install("1").unwrap();
        let ino2 = fs::metadata(env.path()).unwrap().ino();
        assert_eq!(ino == ino2, fixed, "{name}: in place iff fixed size");
        assert_eq!(env.state().unwrap().pv_try.as_deref(), Some("1"), "{name}");
        env.commit("1").unwrap();
        assert_eq!(ino2 == fs::metadata(env.path()).unwrap().ino(), fixed);
        let vars = env.read().unwrap();
        assert_eq!(
            vars.iter().collect::<Vec<_>>(),
            vec![("pv_rev", "1"), ("bootdelay", "3")]
        );
        // Nothing to do: no write at all.
        let ino3 = fs::metadata(env.path()).unwrap().ino();
        env.fail().unwrap();
        assert_eq!(ino3, fs::metadata(env.path()).unwrap().ino());
        assert!(
            temp_files(env.path().parent().unwrap()).is_empty(),
            "{name}"
        );
    }
}

#[test]
fn corrupt_files_are_typed_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let boot = dir.path().join("boot");
    fs::create_dir_all(&boot).unwrap();
    fs::write(boot.join("uboot.txt"), b"pv_rev=3").unwrap();
    fs::write(
        boot.join("grubenv"),
        b"# GRUB Environment Block\npv_rev=3\n",
    )
    .unwrap();
    let cases: [(Box<dyn BootEnv>, FormatError); 2] = [
        (
            Box::new(UbootEnv::in_storage(dir.path())),
            FormatError::NoTerminator(1024),
        ),
        (
            Box::new(GrubEnv::in_storage(dir.path())),
            FormatError::WrongSize {
                got: 34,
                want: 1024,
            },
        ),
    ];
    for (env, want) in cases {
        match env.install("4") {
            Err(BootError::Corrupt { path, source }) => {
                assert_eq!(path, env.path());
                assert_eq!(source, want);
            }
            other => panic!("expected corrupt error, got {other:?}"),
        }
        let msg = env.state().unwrap_err().to_string();
        assert!(msg.contains(&env.path().display().to_string()), "{msg}");
        assert!(msg.starts_with("corrupt boot env"), "{msg}");
    }
    let too_big = EnvVars::from_pairs([("junk", "x".repeat(2000))]);
    let err = UbootEnv::in_storage(dir.path())
        .write(&too_big)
        .unwrap_err();
    assert!(matches!(err, BootError::Unwritable { .. }));
    assert!(err.to_string().contains("uboot.txt"), "{err}");
}

/// A crash after the temp file was written but before the rename leaves
/// the temp file behind: readers ignore it and see the old env; the next
/// write still produces the new one.
#[test]
fn interrupted_write_leaves_old_or_new() {
    let dir = tempfile::tempdir().unwrap();
    for env in backends(dir.path()) {
        env.commit("3").unwrap();
        let old = env.read().unwrap();
        let mut new = old.clone();
        new.set("pv_try", "4");
        let bytes = env.encode(&new).unwrap();

        // Simulate the crash: the temp file is complete, never renamed.
        let mut tmp = pv_fs::AtomicFile::create(env.path()).unwrap();
        tmp.write_all(&bytes).unwrap();
        tmp.file_mut().sync_all().unwrap();
        std::mem::forget(tmp);
        let boot_dir = env.path().parent().unwrap().to_path_buf();
        assert!(!temp_files(&boot_dir).is_empty());

        assert_eq!(env.read().unwrap(), old);
        assert_eq!(env.boot().unwrap(), "3");

        env.install("4").unwrap();
        assert_eq!(env.read().unwrap(), new);
        assert_eq!(env.boot().unwrap(), "4");
        for t in temp_files(&boot_dir) {
            fs::remove_file(boot_dir.join(t)).unwrap();
        }
    }
}

#[test]
fn formats_by_bootloader_type() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        EnvFormat::for_bootloader("uboot"),
        Some(EnvFormat::UbootNul)
    );
    assert_eq!(
        EnvFormat::for_bootloader("uboot-pvk"),
        Some(EnvFormat::UbootNul)
    );
    assert_eq!(EnvFormat::for_bootloader("grub"), Some(EnvFormat::Grub));
    assert_eq!(EnvFormat::for_bootloader("rpiab"), None);
    let env = EnvFormat::Grub.open(dir.path());
    assert!(env.path().ends_with("boot/grubenv"));
    let env = EnvFormat::UbootNul.open(dir.path());
    assert!(env.path().ends_with("boot/uboot.txt"));
    // What the appengine wrapper writes on first start.
    fs::create_dir_all(dir.path().join("boot")).unwrap();
    fs::write(env.path(), b"pv_rev=0\0\0").unwrap();
    assert_eq!(env.state().unwrap().committed(), "0");
}
