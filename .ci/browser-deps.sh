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
# another install running beside this one holds dpkg's lock: wait for it rather than fail
$SUDO apt-get -o DPkg::Lock::Timeout=600 update
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y chromium
/usr/bin/chromium --version
