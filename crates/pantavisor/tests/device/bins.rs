//! Other binaries of this workspace (pvr, pvcontrol) for end-to-end tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A binary of this workspace. `cargo test --workspace` builds every binary
/// before running tests, next to `pantavisor`; with `-p pantavisor` alone a
/// missing one is built in a separate target dir (the outer cargo holds
/// this one).
pub fn workspace_bin(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_pantavisor"))
        .parent()
        .unwrap()
        .to_path_buf();
    let p = dir.join(name);
    if p.exists() {
        return p;
    }
    let nested = dir.parent().unwrap().join("nested");
    let ok = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", name])
        .env("CARGO_TARGET_DIR", &nested)
        .status()
        .unwrap()
        .success();
    assert!(ok, "building {name}");
    nested.join("debug").join(name)
}
