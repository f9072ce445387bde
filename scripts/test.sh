#!/usr/bin/env bash
# The test command of the README: every unit and integration test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/aurora-hash/target}"
cargo test --workspace --locked "$@"
