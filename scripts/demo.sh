#!/usr/bin/env bash
# The main job of bootsvc on one machine, for a newcomer: bootsvc runs in a lab
# network namespace on SQLite; the sample image (a Debian kernel and a busybox
# root) is built and imported; a node is registered and the boot script it will
# get is shown with curl; the node boots in a QEMU VM while its console scrolls
# by; the fleet status is printed; the lab is removed. Run as root on Debian 12.
# FIRMWARE=uefi boots the VM with OVMF instead of SeaBIOS.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
    echo "demo.sh: run as root (the lab creates a network namespace and tap devices)" >&2
    exit 1
fi
missing=()
for package in $(grep -v '^\s*#' scripts/demo-packages.txt | grep -v '^\s*$'); do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "demo.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
bash scripts/venv.sh
exec .venv/bin/bootsvc lab demo --firmware "${FIRMWARE:-bios}"
