#!/usr/bin/env bash
# Debian's chromium and chromedriver for the console's browser tests
# (broker/tests/console_browser.rs), installed on first use: a no-op when both are on PATH.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  echo "chromium and chromedriver are installed"
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y chromium chromium-driver
chromedriver --version
