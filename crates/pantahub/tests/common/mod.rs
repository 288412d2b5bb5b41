//! What the pantahub tests share.

use std::process::Command;

/// Run `pantahub args`; must succeed; its stdout.
pub fn pantahub(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_pantahub"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "pantahub {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}
