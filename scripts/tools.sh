#!/usr/bin/env bash
# Installs what the browser client needs, once, into ~/.cache/aurora-hash/tools (sourced by
# demo.sh and test.sh): the wasm target, trunk and wasm-bindgen at the pinned versions, and,
# with `--browser`, Chromium and chromedriver for the browser tests. Nothing is downloaded at
# build or run time after this; the versions match Cargo.lock (wasm-bindgen =0.2.130).
TOOLS="${AURORA_TOOLS:-$HOME/.cache/aurora-hash/tools}"
export PATH="$TOOLS/bin:$PATH"

ensure_tool() { # name version crate [--locked]
  if ! "$1" --version 2>/dev/null | grep -q " $2"; then
    echo "installing $3 $2 into $TOOLS (once)" >&2
    CARGO_TARGET_DIR="$TOOLS/build" cargo install "$3" --version "$2" --root "$TOOLS" ${4:-} >&2
    rm -rf "$TOOLS/build"
  fi
}

rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown >&2
ensure_tool trunk 0.21.14 trunk --locked
ensure_tool wasm-bindgen 0.2.130 wasm-bindgen-cli

if [[ " $* " == *" --browser "* ]] && ! { command -v chromium && command -v chromedriver; } >/dev/null 2>&1; then
  echo "installing Chromium and chromedriver (Debian packages)" >&2
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >&2
fi
