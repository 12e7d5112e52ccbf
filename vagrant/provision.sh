#!/bin/bash
# Provisions the boot server VM (run by `vagrant up` as root): installs
# bootsvc from the synced checkout, starts a lab on the lab network's
# interface (bootsvc answers DHCP, TFTP and HTTP), builds and imports the
# debian-hypervisor image, and registers the cluster and its nodes from the
# lab cluster file, with this VM's SSH key as the cluster's admin key.
# Environment: SERVER_IP (the lab address), IMAGE and CHANNEL (the image the
# nodes boot), LAB_FILE (cluster.yaml as synced onto this VM).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    python3 python3-venv iproute2 curl ipxe openssh-client \
    mmdebstrap squashfs-tools cpio >/dev/null

python3 -m venv /opt/bootsvc
/opt/bootsvc/bin/pip install -q --disable-pip-version-check /srv/bootsvc
ln -sf /opt/bootsvc/bin/bootsvc /usr/local/bin/bootsvc
records() { /opt/bootsvc/bin/python /srv/bootsvc/vagrant/records.py "$@"; }

interface=$(ip -o -4 addr show | awk -v ip="$SERVER_IP" '{ split($4, a, "/") } a[1] == ip { print $2; exit }')
[ -n "$interface" ] || { echo "provision: no interface has $SERVER_IP" >&2; exit 1; }

# `bootsvc lab up` passes lab_server_settings on to the lab's own bootsvc.
settings=$(records host-settings "$LAB_FILE")
mkdir -p /etc/bootsvc
printf '%s\n' "$settings" >/etc/bootsvc/bootsvc.toml

bootsvc lab down --lab vagrant
bootsvc lab up --lab vagrant --interface "$interface"
config=/var/lib/bootsvc/lab/vagrant/bootsvc.toml

# Built (several minutes) and promoted on the first provisioning only: a
# later one keeps the lab's catalog and channels as the admin left them.
if ! bootsvc --config "$config" image show "$IMAGE" 1 >/dev/null 2>&1; then
    bootsvc --config "$config" image build "$IMAGE" --version 1 --import --channel "$CHANNEL"
fi

# root's own key, so that `sudo ssh root@NODE` on this VM needs no -i.
key=/root/.ssh/id_ed25519
install -d -m 0700 /root/.ssh
[ -f "$key" ] || ssh-keygen -q -t ed25519 -N "" -C "admin@bootsvc" -f "$key"
arguments=$(records cluster "$LAB_FILE" "$key.pub")
mapfile -t cluster <<<"$arguments"
bootsvc --config "$config" cluster add "${cluster[@]}"

nodes=$(mktemp --suffix=.json)
trap 'rm -f "$nodes"' EXIT
records nodes "$LAB_FILE" >"$nodes"
bootsvc --config "$config" node import "$nodes"
bootsvc --config "$config" node list --cluster "${cluster[0]}"
echo "boot server ready: boot the nodes above with \`vagrant up NAME...\`"
