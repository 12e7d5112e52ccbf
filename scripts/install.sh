#!/usr/bin/env bash
# Installs bootsvc from this checkout as a systemd service on Debian 12, as root:
# a venv in /opt/bootsvc (BOOTSVC_PREFIX), /usr/local/bin/bootsvc, then
# `bootsvc install` (unit, /etc/bootsvc/bootsvc.toml, user bootsvc, data dir).
# Arguments go to `bootsvc install` (--root DIR installs into a scratch tree).
# Running it again upgrades bootsvc to this checkout and keeps the settings.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${BOOTSVC_PREFIX:-/opt/bootsvc}
if [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root" >&2
    exit 1
fi
missing=()
for package in python3 python3-venv ipxe systemd; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ -x "$prefix/bin/python" ] || python3 -m venv "$prefix"
"$prefix/bin/pip" install -q --disable-pip-version-check --upgrade .
if [ "$#" -eq 0 ]; then
    ln -sf "$prefix/bin/bootsvc" /usr/local/bin/bootsvc
fi
"$prefix/bin/bootsvc" install "$@"
