#!/usr/bin/env bash
# The README's main command: train a small Im-AlexNet-SP on the built-in synthetic frames,
# evaluate it, export the bundle and an indexed archive, build the browser page, and serve it
# at http://localhost:8080/ (arguments go to `aurora-hash demo`, e.g. --port 9000).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/aurora-hash/target}"
source scripts/tools.sh
trunk build --release
cargo run --locked -p model-export -- demo --web dist "$@"
