#!/usr/bin/env bash
# Runs `aurora-hash` built with the optional `libtorch` feature, so that `--device libtorch`
# trains on the CPU through burn's LibTorch backend. libtorch comes from PyPI's `torch` wheel,
# installed once into a virtual environment at ~/.cache/aurora-hash/libtorch-venv; torch 2.9.0
# is the version the `tch` crate of burn 0.22.1 (tch 0.22) is made for. The default build, the
# tests and the browser build do not use this. Example:
#   ./scripts/libtorch.sh bench --devices cpu,libtorch --size 96 --batch 16 --arch im-alexnet-sp
#   ./scripts/libtorch.sh train --device libtorch --data ../shared/data/yrs/labeled.csv --run runs/yrs
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/aurora-hash/target}"
VENV="${AURORA_LIBTORCH_VENV:-$HOME/.cache/aurora-hash/libtorch-venv}"
TORCH_VERSION=2.9.0
if ! "$VENV/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  echo "installing torch $TORCH_VERSION from PyPI into $VENV (once; 6.7 GB with its CUDA libraries)" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "torch==$TORCH_VERSION" >&2
fi
# torch-sys asks this Python where libtorch's headers and libraries are.
export LIBTORCH_USE_PYTORCH=1
export PATH="$VENV/bin:$PATH"
export LD_LIBRARY_PATH="$("$VENV/bin/python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec cargo run --locked -p model-export --features libtorch -- "$@"
