#!/bin/bash
# Provisions the boot server VM (run by `vagrant up` as root): installs
# bootsvc from the synced checkout, starts a lab on the lab network's
# interface (bootsvc answers DHCP, TFTP and HTTP), imports the busybox-test
# image and registers the nodes.
# Environment: SERVER_IP (the lab address), NODES ("name=mac name=mac").
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    python3 python3-venv iproute2 curl ipxe \
    busybox-static squashfs-tools cpio kmod >/dev/null

python3 -m venv /opt/bootsvc
/opt/bootsvc/bin/pip install -q --disable-pip-version-check /srv/bootsvc
ln -sf /opt/bootsvc/bin/bootsvc /usr/local/bin/bootsvc

interface=$(ip -o -4 addr show | awk -v ip="$SERVER_IP" '{ split($4, a, "/") } a[1] == ip { print $2; exit }')
[ -n "$interface" ] || { echo "provision: no interface has $SERVER_IP" >&2; exit 1; }

bootsvc lab down --lab vagrant
bootsvc lab up --lab vagrant --interface "$interface"
bootsvc lab image --lab vagrant --version 1 --channel stable

config=/var/lib/bootsvc/lab/vagrant/bootsvc.toml
for node in $NODES; do
    bootsvc --config "$config" node add "${node%%=*}" --mac "${node#*=}" --image busybox-test@stable
done
bootsvc --config "$config" node list
names=""
for node in $NODES; do names="$names ${node%%=*}"; done
echo "boot server ready; boot the nodes with: vagrant up$names"
