#!/bin/sh
# What the browser tests (tests/web) need beyond requirements-dev.txt: a
# Chromium that Playwright drives through executable_path. Debian's package,
# never `playwright install` (which downloads its own browser at run time).
# Idempotent: does nothing when /usr/bin/chromium is already there.
set -eu
CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser.sh: $CHROMIUM is missing and there is no apt-get here;" \
         "install Chromium so that $CHROMIUM exists, then run the tests again" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_browser.sh: $CHROMIUM is missing; run as root (or with sudo):" \
             "apt-get update && apt-get install -y chromium" >&2
        exit 1
    fi
fi
echo "install_browser.sh: installing Debian's chromium for the browser tests" >&2
if ! $SUDO apt-get update -qq; then
    echo "install_browser.sh: apt-get update failed; check the network or the apt sources" >&2
    exit 1
fi
if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null; then
    echo "install_browser.sh: apt-get install chromium failed" >&2
    exit 1
fi
if [ ! -x "$CHROMIUM" ]; then
    echo "install_browser.sh: chromium was installed but $CHROMIUM is not there" >&2
    exit 1
fi
