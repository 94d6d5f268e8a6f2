#!/usr/bin/env bash
# Installs Debian's chromium if it is missing: the browser tests (test/browser/: the demo, bench:infer --browser) drive it,
# and trainer/test/webgpu.test.ts runs Dawn on the SwiftShader Vulkan driver and loader it ships
# (/usr/lib/chromium/vk_swiftshader_icd.json, /usr/lib/chromium/libvulkan.so.1), so no GPU and no libvulkan1.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  echo "browser-deps: $(/usr/bin/chromium --version 2>/dev/null || echo chromium) already installed"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
$SUDO apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
/usr/bin/chromium --version
