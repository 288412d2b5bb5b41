#!/usr/bin/env bash
# The long form of the device/hub end-to-end suite (crates/pantavisor/
# tests/hub.rs): the ignored cases (downloads cut by the hub going away
# or by the runtime being killed, resumed from their byte; a staged
# rollout over 3 devices that pauses itself) besides the
# short ones that every `cargo test` runs. Needs root, busybox-static
# and squashfs-tools (scripts/deps.sh); a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p pantahub -p pvr -p pantavisor
exec cargo test -p pantavisor --test hub -- --include-ignored "$@"
