#!/usr/bin/env bash
# Idempotently make sure Debian's Chromium is installed at /usr/bin/chromium.
# Used by the browser test suite and the browser benchmark. Never downloads
# Playwright's own browser builds: only Debian's package.
set -euo pipefail
CHROMIUM="${ZENALYZE_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
if [ ! -x "$CHROMIUM" ]; then
  echo "ensure-chromium: chromium still missing at $CHROMIUM after install" >&2
  exit 1
fi
echo "ensure-chromium: installed $($CHROMIUM --version 2>/dev/null || echo chromium)"
