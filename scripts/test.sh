#!/usr/bin/env bash
# The test command of the README: installs what the tests need, then runs
# every crate's unit and integration tests (golden vectors included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo test --workspace --no-fail-fast 2>&1
