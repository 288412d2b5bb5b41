//! Replays the golden vectors recorded with the original pvr (kept in the
//! repository: tests/golden) against our `pvr`, with their replay tool.
//!
//! Where we deliberately fix a defect of the original (docs/compat.md), the
//! expected file is replaced by the one in `tests/golden-overrides/<vector>/`.
//! The vector inputs are copied with normalised modes (0755 dirs, 0644
//! files), whatever the checkout's modes are.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn copy_tree(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap();
    fs::set_permissions(dst, fs::Permissions::from_mode(0o755)).unwrap();
    for e in fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            copy_tree(&e.path(), &to);
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(e.path()).unwrap(), &to).unwrap();
        } else {
            fs::copy(e.path(), &to).unwrap();
            fs::set_permissions(&to, fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
}

fn replay(vector: &str) {
    let golden = pv_testkit::golden_dir();
    let tmp = tempfile::tempdir().unwrap();
    let v = tmp.path().join(vector);
    copy_tree(&pv_testkit::golden(vector), &v);
    let overrides = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden-overrides")
        .join(vector);
    if overrides.is_dir() {
        for e in fs::read_dir(&overrides).unwrap() {
            let e = e.unwrap();
            fs::copy(e.path(), v.join("expected").join(e.file_name())).unwrap();
        }
    }
    let out = Command::new("python3")
        .arg(golden.join("tools/golden.py"))
        .args(["check", "-v", "--pvr", env!("CARGO_BIN_EXE_pvr")])
        .arg(&v)
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .output()
        .expect("python3 runs the golden replay tool (scripts/deps.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "golden vector {vector} differs:\n{text}"
    );
}

macro_rules! vectors {
    ($($name:ident => $dir:literal),* $(,)?) => {
        $( #[test] fn $name() { replay($dir); } )*
    };
}

vectors! {
    v01_basic_container => "01-basic-container",
    v02_canonical_json => "02-canonical-json",
    v03_delete_and_commit => "03-delete-and-commit",
    v04_modify_inline_json => "04-modify-inline-json",
    v05_nulls_pruned => "05-nulls-pruned",
    v06_raw_json_add => "06-raw-json-add",
    v07_nested_config_overlay => "07-nested-config-overlay",
    v08_export_import => "08-export-import",
    v09_deploy => "09-deploy",
    v10_get_merge_local => "10-get-merge-local",
    v11_get_merge_export => "11-get-merge-export",
    v15_spec_variants => "15-spec-variants",
    v16_empty_files_and_spaces => "16-empty-files-and-spaces",
    v12_sig_part_rs256 => "12-sig-part-rs256",
    v13_sig_raw_globs => "13-sig-raw-globs",
    v14_sig_es256 => "14-sig-es256",
    v17_untracked_and_checkout => "17-untracked-and-checkout",
}
