#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium and its WebDriver (chromedriver), for the web UI
# test (mesos/tests/webui.rs). Idempotent: does nothing when both are installed.
#
# Only Debian's packages are used: this machine reaches package registries and nothing else, so
# no browser is downloaded any other way. Runs apt-get as root (or through sudo when available).
set -euo pipefail

packages=(chromium chromium-driver)

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

have_all() {
    for p in "${packages[@]}"; do
        installed "$p" || return 1
    done
    command -v chromium >/dev/null && command -v chromedriver >/dev/null
}

if have_all; then
    exit 0
fi

if ! command -v apt-get >/dev/null; then
    echo "install-chromium.sh: apt-get not found; install ${packages[*]} (Debian) by hand" >&2
    exit 1
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then
        sudo_cmd=(sudo -n)
    else
        echo "install-chromium.sh: must run as root (or with sudo) to apt-get install ${packages[*]}" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}"

if ! have_all; then
    echo "install-chromium.sh: ${packages[*]} installed, but chromium or chromedriver is not on PATH" >&2
    exit 1
fi
