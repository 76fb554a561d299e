#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests where this machine allows it.
# Where it cannot (not root, no apt-get), the browser tests skip with a message saying so.
set -u
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "Chromium is not installed and cannot be installed here (needs root and apt-get): browser tests will be skipped." >&2
  exit 0
fi
echo "Installing Chromium for the browser tests…"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null \
  || echo "Installing Chromium failed: browser tests will be skipped." >&2
exit 0
