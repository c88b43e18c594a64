#!/usr/bin/env bash
# Make sure Debian's Chromium is installed at /usr/bin/chromium for the real-browser tests
# (tests/browser). Idempotent and non-interactive; needs root (or sudo) on Debian 12.
# Never uses `playwright install`: Playwright is pointed at /usr/bin/chromium instead.
#
#   bash tools/ensure_browser.sh && .venv/bin/python -m pytest tests/browser -q
set -euo pipefail

CHROMIUM=/usr/bin/chromium

installed() {
    # The binary must exist, dpkg must have finished configuring it, and it must start.
    [ -x "$CHROMIUM" ] || return 1
    if command -v dpkg-query >/dev/null 2>&1; then
        [ "$(dpkg-query -W -f='${Status}' chromium 2>/dev/null || true)" = "install ok installed" ] || return 1
    fi
    "$CHROMIUM" --version >/dev/null 2>&1
}

if installed; then
    echo "ensure_browser: $("$CHROMIUM" --version 2>/dev/null) already installed"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "ensure_browser: need root or sudo to apt-get install chromium" >&2; exit 1; }
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
# Wait (up to 10 min) for another apt/dpkg run to release its lock instead of failing.
APT=($SUDO apt-get -y -q -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

# A previous install that was interrupted leaves packages half-configured: finish it first.
$SUDO dpkg --configure -a >/dev/null 2>&1 || true

if ! "${APT[@]}" install --no-install-recommends chromium; then
    echo "ensure_browser: install failed, refreshing package lists and retrying" >&2
    "${APT[@]}" update
    "${APT[@]}" install --no-install-recommends chromium
fi

if ! installed; then
    echo "ensure_browser: $CHROMIUM still not usable after install" >&2
    exit 1
fi
echo "ensure_browser: installed $("$CHROMIUM" --version 2>/dev/null)"
