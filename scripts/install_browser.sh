#!/bin/sh
# What the browser tests (tests/web) need beyond requirements-dev.txt: a
# Chromium that Playwright drives through executable_path (Debian's package;
# never `playwright install`, which downloads its own browser), and a Chinese
# font so that the pages and their screenshots show 中文, not boxes.
# Idempotent: installs only what is missing, with one `apt-get update`.
set -eu
CHROMIUM=/usr/bin/chromium
PACKAGES=""
[ -x "$CHROMIUM" ] || PACKAGES="chromium"
if ! { command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list :lang=zh 2>/dev/null)" ]; }; then
    PACKAGES="$PACKAGES fonts-wqy-microhei"
fi
# nginx (nginx-light): the slow-client test puts it in front of gunicorn as deploy/nginx/sortwatch.conf does
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || PACKAGES="$PACKAGES nginx-light"
[ -n "$PACKAGES" ] || exit 0

fail() { echo "install_browser.sh: $*" >&2; exit 1; }
command -v apt-get >/dev/null 2>&1 ||
    fail "missing:$PACKAGES and there is no apt-get here; install Chromium (as $CHROMIUM) and a Chinese font, then run the tests again"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 ||
        fail "missing:$PACKAGES; run as root: apt-get update && apt-get install -y$PACKAGES"
    SUDO="sudo"
fi
echo "install_browser.sh: installing$PACKAGES for the browser tests" >&2
$SUDO apt-get update -qq || fail "apt-get update failed; check the network and the apt sources"
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null ||
    fail "apt-get install$PACKAGES failed"
[ -x "$CHROMIUM" ] || fail "chromium was installed but $CHROMIUM is not there"
