//! Interoperability with Debian's `grub-editenv` (package grub-common).
//! Needs the tool (pv_testkit decides: a failure under CI, a counted skip
//! elsewhere).

use std::path::Path;
use std::process::Command;

use pv_boot::{BootEnv, EnvVars, GrubEnv};

fn grub_editenv() -> Option<&'static str> {
    pv_testkit::require_tool("grub-editenv").then_some("grub-editenv")
}

fn run(tool: &str, file: &Path, args: &[&str]) -> String {
    let out = Command::new(tool).arg(file).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "grub-editenv {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn grub_editenv_reads_what_we_write() {
    let Some(tool) = grub_editenv() else { return };
    let dir = tempfile::tempdir().unwrap();
    let env = GrubEnv::new(dir.path().join("grubenv"));
    env.write(&EnvVars::from_pairs([
        ("saved_entry", "0"),
        ("odd", "a\\b\nc"),
    ]))
    .unwrap();
    env.commit("3").unwrap();
    env.install("locals/dev").unwrap();
    assert_eq!(
        run(tool, env.path(), &["list"]),
        "pv_rev=3\npv_try=locals/dev\nsaved_entry=0\nodd=a\\b\nc\n"
    );
    // grub-editenv can edit our block, and we read its result.
    run(tool, env.path(), &["set", "pv_trying=locals/dev"]);
    run(tool, env.path(), &["unset", "saved_entry"]);
    let state = env.state().unwrap();
    assert!(state.trying_update("locals/dev"));
    assert_eq!(env.read().unwrap().get("saved_entry"), None);
}

#[test]
fn we_read_what_grub_editenv_writes() {
    let Some(tool) = grub_editenv() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grubenv");
    run(tool, &path, &["create"]);
    let env = GrubEnv::new(&path);
    assert_eq!(env.read().unwrap(), EnvVars::new());
    run(
        tool,
        &path,
        &[
            "set",
            "pv_rev=5",
            "pv_try=6",
            "x=back\\slash",
            "nl=one\ntwo",
            "e=",
        ],
    );
    let vars = env.read().unwrap();
    assert_eq!(
        vars,
        EnvVars::from_pairs([
            ("pv_rev", "5"),
            ("pv_try", "6"),
            ("x", "back\\slash"),
            ("nl", "one\ntwo"),
            ("e", "")
        ])
    );
    assert_eq!(env.boot().unwrap(), "6");
    assert_eq!(env.boot().unwrap(), "5");
    env.commit("6").unwrap();
    let listed = run(tool, &path, &["list"]);
    assert_eq!(listed, "pv_rev=6\nx=back\\slash\nnl=one\ntwo\ne=\n");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 1024);
}
