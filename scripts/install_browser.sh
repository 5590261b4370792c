#!/bin/sh
# The browser tests' dependencies: Debian's chromium (driven at /usr/bin/chromium) and the Playwright client.
# Idempotent. Never runs `playwright install`: nothing downloads a browser of its own.
# Usage: scripts/install_browser.sh [PYTHON]   (default: python3; the Makefile passes the virtualenv's)
set -eu
PYTHON="${1:-python3}"

if [ -x /usr/bin/chromium ]; then
    echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo present)"
elif [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
else
    echo "chromium is missing: install the Debian package as root (apt-get install -y chromium);" >&2
    echo "the browser tests (pytest -m browser) skip until /usr/bin/chromium exists" >&2
fi

if "$PYTHON" -c "import playwright" 2>/dev/null; then
    echo "playwright: present"
else
    "$PYTHON" -m pip install -q "playwright>=1.40"
fi
