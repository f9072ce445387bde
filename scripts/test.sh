#!/usr/bin/env bash
# The test command of the README: every native unit and integration test of the workspace, the
# browser client's wasm tests in headless Chromium (WebGPU and the CPU path), and the
# end-to-end test of the trunk-built page against the native tool; then one summary line over
# all test binaries. Installs the wasm target, trunk, wasm-bindgen and Chromium once.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/aurora-hash/target}"
source scripts/tools.sh --browser
export CHROMEDRIVER="${CHROMEDRIVER:-$(command -v chromedriver)}"
export AURORA_WEB_DIST="$PWD/dist"
# WebGPU in headless Chromium is software (SwiftShader): shader compiles take seconds.
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-600}"
export AURORA_SCREENSHOTS="${AURORA_SCREENSHOTS:-$CARGO_TARGET_DIR/screenshots}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
step() { echo "== $*" | tee -a "$log"; "$@" 2>&1 | tee -a "$log" || status=1; }

step cargo test --workspace --locked "$@"
step trunk build --release
# wasm-bindgen-test-runner reads web/webdriver.json (the browser's flags) from the crate folder.
pushd web >/dev/null
step cargo test --release --locked --target wasm32-unknown-unknown "$@"
popd >/dev/null
step cargo test --locked -p model-export --test browser "$@" -- --ignored --test-threads=1 --nocapture --skip browser_speed

awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
