#!/usr/bin/env bash
# The web console's fleet page with N devices (default 10,000) in SQLite:
# median server time of the page (first page, a filtered page, the last
# page) over 11 requests each, and the ratio against the API's
# `GET /devices` of the same account measured in the same run.
# Usage: bench/console-fleet.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run -q --release -p ph-console --example fleet_bench -- "${1:-10000}"
