//! Test prerequisites for the whole workspace: the one place that decides
//! whether a test needing root or an external tool runs, fails or is
//! skipped, and where the golden vectors live.
//!
//! A test asks before it starts, and returns when told not to run:
//!
//! ```no_run
//! if !pv_testkit::require_root() || !pv_testkit::require_tool("mksquashfs") {
//!     return;
//! }
//! ```
//!
//! - Everything present: `true`, the test runs.
//! - Something missing under CI (`CI` set, and not `0` or `false`): the
//!   test panics naming what is missing, so CI cannot go green by testing
//!   less than it seems.
//! - Something missing elsewhere: `false`, and the skip is counted: one line
//!   `<reason>\t<crate>::<test>` is appended to the file named by
//!   `PV_SKIP_LOG` (scripts/test.sh sets it and prints the count per reason
//!   at the end), and a notice goes to stderr.

pub mod hub;
pub mod pg;
#[cfg(feature = "webdriver")]
pub mod webdriver;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The environment variable naming the file skipped tests are counted in.
pub const SKIP_LOG_ENV: &str = "PV_SKIP_LOG";

/// Every external tool the workspace's tests use, with the Debian package
/// that provides it (scripts/deps.sh installs them all).
pub const TOOLS: &[(&str, &str)] = &[
    ("/bin/busybox", "busybox-static"),
    ("mksquashfs", "squashfs-tools"),
    ("unsquashfs", "squashfs-tools"),
    ("docker-registry", "docker-registry"),
    ("skopeo", "skopeo"),
    ("timeout", "coreutils"),
    ("curl", "curl"),
    ("grub-editenv", "grub-common"),
    ("mkfs.ext4", "e2fsprogs"),
    ("debugfs", "e2fsprogs"),
    ("e2label", "e2fsprogs"),
    ("grub-mkimage", "grub-common"),
    ("/usr/lib/grub/i386-pc/boot.img", "grub-pc-bin"),
];

/// Is this a CI run, where a missing prerequisite is a failure?
pub fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"))
}

/// Run only as root (containers, mounts, loop devices, cgroups).
#[track_caller]
pub fn require_root() -> bool {
    decide(root_missing())
}

/// Run only when `tool` is on `PATH` (or, for an absolute path, exists).
#[track_caller]
pub fn require_tool(tool: &str) -> bool {
    decide(tool_missing(tool))
}

/// Run only when every tool of `tools` is there (the first missing one is
/// the reason).
#[track_caller]
pub fn require_tools(tools: &[&str]) -> bool {
    decide(tools.iter().find_map(|t| tool_missing(t)))
}

/// Run only when `path` does not exist (a host file that would change what
/// the test sees, e.g. `/etc/pantavisor.config`).
#[track_caller]
pub fn require_absent(path: &str) -> bool {
    decide(
        Path::new(path)
            .exists()
            .then(|| format!("this host has {path}")),
    )
}

/// Every prerequisite of [`TOOLS`] and root that is missing here, as the
/// reasons a test would give.
pub fn missing() -> Vec<String> {
    root_missing()
        .into_iter()
        .chain(TOOLS.iter().filter_map(|(t, _)| tool_missing(t)))
        .collect()
}

/// The golden vectors of the original pvr, kept in the repository
/// (`tests/golden` at the workspace root; see its INDEX.md).
pub fn golden_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(Path::parent)
        .expect("pv-testkit lives two levels below the workspace root")
        .join("tests/golden")
}

/// One golden vector's folder; a missing one is a failure (they are part of
/// the repository, never skipped).
pub fn golden(vector: &str) -> PathBuf {
    let dir = golden_dir().join(vector);
    assert!(
        dir.is_dir(),
        "golden vector {vector} missing: {} is not a directory",
        dir.display()
    );
    dir
}

fn root_missing() -> Option<String> {
    (!rustix::process::geteuid().is_root()).then(|| "not root".to_string())
}

fn tool_missing(tool: &str) -> Option<String> {
    let found = if tool.contains('/') {
        Path::new(tool).is_file()
    } else {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
    };
    if found {
        return None;
    }
    Some(match TOOLS.iter().find(|(t, _)| *t == tool) {
        Some((_, package)) => format!("no {tool} (apt-get install {package})"),
        None => format!("no {tool}"),
    })
}

/// Run, fail (under CI) or count the skip.
#[track_caller]
fn decide(missing: Option<String>) -> bool {
    let log = std::env::var_os(SKIP_LOG_ENV).map(PathBuf::from);
    decide_in(missing, is_ci(), log.as_deref())
}

#[track_caller]
fn decide_in(missing: Option<String>, ci: bool, log: Option<&Path>) -> bool {
    let Some(reason) = missing else {
        return true;
    };
    let test = test_name();
    if ci {
        panic!("{test}: prerequisite missing under CI: {reason}");
    }
    eprintln!("SKIPPED {test}: {reason}");
    if let Some(log) = log {
        record(log, &format!("{reason}\t{test}\n"));
    }
    false
}

/// `<crate>::<test>`: cargo names the package of a running test binary in
/// `CARGO_PKG_NAME` (run by hand: the binary's name), libtest names each
/// test's thread after the test.
fn test_name() -> String {
    let krate = std::env::var("CARGO_PKG_NAME").unwrap_or_else(|_| {
        let exe = std::env::current_exe().unwrap_or_default();
        let stem = exe.file_stem().unwrap_or_default().to_string_lossy();
        stem.rsplit_once('-')
            .map_or(&*stem, |(name, _hash)| name)
            .to_string()
    });
    let thread = std::thread::current();
    format!("{krate}::{}", thread.name().unwrap_or("?"))
}

/// One `write` in append mode, so lines from parallel tests do not mix.
fn record(log: &Path, line: &str) {
    let written = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        panic!("cannot count a skipped test in {}: {e}", log.display());
    }
}

/// A TCP port of 127.0.0.1 that was free a moment ago (the kernel's pick
/// for a socket bound to port 0, closed again) for a server under test.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free TCP port on 127.0.0.1: {e}"))
}

/// A binary of this workspace for an end-to-end test, found beside
/// `sibling` (a binary cargo built for the calling test, e.g.
/// `env!("CARGO_BIN_EXE_pantavisor")`): `cargo test --workspace` builds
/// first the binaries of every package that has integration tests (so each
/// binary package here has some: see crates/pantabox/tests). With
/// `-p <crate>` alone a missing one is built into a separate `nested`
/// target dir (the outer cargo holds the lock on this one), which takes
/// minutes; `cargo` is the calling test's `env!("CARGO")`.
pub fn workspace_bin(sibling: &str, cargo: &str, name: &str) -> PathBuf {
    let dir = Path::new(sibling)
        .parent()
        .expect("a binary path has a directory")
        .to_path_buf();
    let p = dir.join(name);
    if p.exists() {
        return p;
    }
    let nested = dir.parent().expect("a target dir").join("nested");
    eprintln!(
        "{name} is not beside {sibling}: building it in {}",
        nested.display()
    );
    let ok = std::process::Command::new(cargo)
        .args(["build", "-q", "-p", name])
        .env("CARGO_TARGET_DIR", &nested)
        .status()
        .unwrap_or_else(|e| panic!("run {cargo}: {e}"))
        .success();
    assert!(ok, "building {name}");
    nested.join("debug").join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_present_tool_runs_and_an_absent_one_names_its_package() {
        assert_eq!(tool_missing("sh"), None);
        assert_eq!(tool_missing("/bin/sh"), None);
        assert_eq!(
            tool_missing("/nonexistent/busybox"),
            Some("no /nonexistent/busybox".into())
        );
        assert_eq!(
            tool_missing("pv-testkit-no-such-tool"),
            Some("no pv-testkit-no-such-tool".into())
        );
    }

    #[test]
    fn the_reason_names_the_debian_package() {
        for (tool, package) in TOOLS {
            if let Some(reason) = tool_missing(tool) {
                assert_eq!(reason, format!("no {tool} (apt-get install {package})"));
            }
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pv-testkit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn present_runs_and_logs_nothing() {
        let dir = scratch("present");
        let log = dir.join("skips.log");
        assert!(decide_in(None, false, Some(&log)));
        assert!(decide_in(None, true, Some(&log)));
        assert!(!log.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_under_ci_fails_naming_what_is_missing() {
        let err = std::panic::catch_unwind(|| decide_in(Some("no skopeo".into()), true, None))
            .expect_err("a missing prerequisite under CI is a failure");
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(
            msg.ends_with("prerequisite missing under CI: no skopeo"),
            "{msg}"
        );
    }

    #[test]
    fn skips_are_appended_one_line_each_with_the_test_name() {
        let dir = scratch("skips");
        let log = dir.join("skips.log");
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let log = log.clone();
                std::thread::Builder::new()
                    .name(format!("t{i}"))
                    .spawn(move || decide_in(Some("not root".into()), false, Some(&log)))
                    .unwrap()
            })
            .collect();
        for t in threads {
            assert!(!t.join().unwrap());
        }
        let text = std::fs::read_to_string(&log).unwrap();
        let mut lines: Vec<_> = text.lines().collect();
        lines.sort();
        // run by cargo: the package's name; by hand: the binary's
        let krate = lines[0].split(['\t', ':']).nth(1).unwrap();
        assert!(["pv-testkit", "pv_testkit"].contains(&krate), "{krate}");
        let want: Vec<_> = (0..8).map(|i| format!("not root\t{krate}::t{i}")).collect();
        assert_eq!(lines, want);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_golden_vectors_are_in_the_repository() {
        assert!(golden_dir().join("INDEX.md").is_file());
        assert!(golden("01-basic-container").join("commands.txt").is_file());
    }
}
