//! ARCHITECTURE.md's crate table is the layering: every crate of the
//! workspace is in it, and each depends only on crates above it.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    pv_testkit::golden_dir()
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf()
}

/// The crate names of the table, top to bottom.
fn table(architecture: &str) -> Vec<String> {
    architecture
        .lines()
        .skip_while(|l| !l.starts_with("| crate |"))
        .skip(2)
        .take_while(|l| l.starts_with("| `"))
        .map(|l| l.split('`').nth(1).unwrap().to_string())
        .collect()
}

/// The names under `[dependencies]` (build and per-target ones too) of a
/// Cargo.toml, dev-dependencies left out: tests may use anything.
fn dependencies(manifest: &str) -> Vec<String> {
    let mut out = vec![];
    let mut inside = false;
    for l in manifest.lines().map(str::trim) {
        if l.starts_with('[') {
            inside = l.ends_with("dependencies]") && !l.contains("dev-dependencies");
        } else if inside && !l.starts_with('#') {
            if let Some(name) = l.split(['=', '.', ' ']).next().filter(|n| !n.is_empty()) {
                out.push(name.to_string());
            }
        }
    }
    out
}

#[test]
fn each_crate_depends_only_on_crates_above_it() {
    let root = root();
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let table = table(&text);
    let mut crates: Vec<String> = std::fs::read_dir(root.join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    crates.sort();
    let mut listed = table.clone();
    listed.sort();
    assert_eq!(
        listed, crates,
        "ARCHITECTURE.md's table lists every crate once"
    );
    for (i, name) in table.iter().enumerate() {
        let manifest =
            std::fs::read_to_string(root.join("crates").join(name).join("Cargo.toml")).unwrap();
        for dep in dependencies(&manifest) {
            if let Some(j) = table.iter().position(|t| *t == dep) {
                assert!(
                    j < i,
                    "{name} depends on {dep}, listed below it in ARCHITECTURE.md"
                );
            }
        }
    }
}

#[test]
fn the_parsers_see_what_is_there() {
    let md =
        "x\n| crate | concern |\n|---|---|\n| `a` | one |\n| `b` | two |\n\nafter\n| `c` | no |\n";
    assert_eq!(table(md), ["a", "b"]);
    let toml = "[package]\nname = \"b\"\n\n[dependencies]\na.workspace = true\n# x\nserde = { version = \"1\" }\n[target.'cfg(unix)'.dependencies]\nd = \"1\"\n\n[dev-dependencies]\nc.workspace = true\n";
    assert_eq!(dependencies(toml), ["a", "serde", "d"]);
}
