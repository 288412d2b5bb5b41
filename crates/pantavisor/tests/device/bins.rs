//! Other binaries of this workspace (pvr, pvcontrol) for end-to-end tests.

use std::path::PathBuf;

/// A binary of this workspace (see [`pv_testkit::workspace_bin`]).
pub fn workspace_bin(name: &str) -> PathBuf {
    pv_testkit::workspace_bin(env!("CARGO_BIN_EXE_pantavisor"), env!("CARGO"), name)
}
