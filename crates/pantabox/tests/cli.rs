//! `pantabox` as a program: its command line, and what it says when there
//! is no device to manage. (The whole menu against a running device is
//! crates/pantavisor/tests/pantabox.rs, which runs this binary.)

use std::path::Path;
use std::process::{Command, Output};

fn pantabox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pantabox"))
        .args(args)
        .env_remove("PVTX_SOCKET")
        .output()
        .unwrap()
}

#[test]
fn version_and_help_name_the_program_and_its_options() {
    let o = pantabox(&["--version"]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        out.trim(),
        format!("pantabox {}", env!("CARGO_PKG_VERSION"))
    );
    let o = pantabox(&["--help"]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    for opt in ["--socket", "--logs", "PVTX_SOCKET"] {
        assert!(out.contains(opt), "{opt} missing from the help:\n{out}");
    }
}

#[test]
fn a_bad_option_is_refused_with_the_usage() {
    let o = pantabox(&["--no-such-option"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--no-such-option") && err.contains("Usage:"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn without_a_control_socket_it_says_where_it_looked_and_leaves_the_terminal_alone() {
    let searched = pv_ctrl_client::SOCKET_SEARCH;
    if searched.iter().any(|p| Path::new(p).exists()) {
        // a device's own socket is here: pantabox would manage it
        return;
    }
    let o = pantabox(&[]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("pv-ctrl socket not found"), "{err}");
    for p in searched {
        assert!(err.contains(p), "{p} not named:\n{err}");
    }
    // the error comes before the terminal is taken over (no alternate screen)
    assert!(
        o.stdout.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&o.stdout)
    );
}
