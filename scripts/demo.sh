#!/usr/bin/env bash
# A first look at bootsvc on SQLite: a catalog with a sample image, a node in
# the CMDB, the HTTP server, and the boot script that node would get, fetched
# with curl the way iPXE fetches it. Everything lives in a temporary data
# directory, removed at the end (KEEP=1 keeps it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh >/dev/null
export PATH="$PWD/.venv/bin:$PATH"

export BOOTSVC_DATA_DIR=${BOOTSVC_DATA_DIR:-$(mktemp -d /tmp/bootsvc-demo.XXXXXX)}
port=${DEMO_PORT:-8080}
export BOOTSVC_HTTP_LISTEN=127.0.0.1:$port BOOTSVC_ADVERTISE_URL=http://127.0.0.1:$port
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    [ "${KEEP:-0}" = 1 ] && echo "data kept in $BOOTSVC_DATA_DIR" || rm -rf "$BOOTSVC_DATA_DIR"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "Database (SQLite in $BOOTSVC_DATA_DIR)"
show bootsvc db upgrade

step "A sample image: placeholder kernel and initrd (bootsvc lab demo boots a real one in a VM)"
sample=$BOOTSVC_DATA_DIR/sample
mkdir -p "$sample"
head -c 8000000 /dev/urandom >"$sample/vmlinuz"
head -c 20000000 /dev/urandom >"$sample/initrd.img"
show bootsvc image import --name hypervisor --version 2026.11.1 \
    --kernel "$sample/vmlinuz" --initrd "$sample/initrd.img" \
    --cmdline 'console=ttyS0 hostname={{ hostname }}' --notes 'demo build'
show bootsvc image promote hypervisor 2026.11.1 --channel stable
show bootsvc image list

step "A cluster and a node in the CMDB"
show bootsvc cluster add lab --domain lab.example.org \
    --network mgmt=10.0.0.0/24 --network ring=10.10.0.0/24 \
    --setting 'pacemaker={stonith_enabled: false}' --setting 'time={servers: [192.0.2.123]}'
show bootsvc node add hv1 --mac 52:54:00:12:34:01 --ip 10.0.0.11 --cluster lab \
    --role hypervisor --image hypervisor@stable
show bootsvc node set hv1 --mac 52:54:00:12:34:02 --interface eth1 --ip 10.10.0.11
show bootsvc node show hv1

step "What hv1 gets at boot besides its image: its own files, rendered on request"
show bootsvc node render hv1 /etc/corosync/corosync.conf

step "The boot server"
bootsvc serve >"$BOOTSVC_DATA_DIR/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do curl -sf -o /dev/null "$BOOTSVC_ADVERTISE_URL/boot.ipxe" && break; sleep 0.2; done
echo "serving on $BOOTSVC_ADVERTISE_URL (log: $BOOTSVC_DATA_DIR/serve.log)"

step "What every iPXE fetches first"
show curl -s "$BOOTSVC_ADVERTISE_URL/boot.ipxe"

step "The script of hv1, asked for the way iPXE asks (its MAC in the URL)"
show curl -s "$BOOTSVC_ADVERTISE_URL/boot/node.ipxe?mac=52-54-00-12-34-01&arch=x86_64&platform=pcbios"

step "A machine nobody registered: enlisted as new, told to wait for an admin"
show curl -s "$BOOTSVC_ADVERTISE_URL/boot/node.ipxe?mac=52-54-00-12-34-99"
show bootsvc node list

step "The kernel as iPXE downloads it (headers only)"
kernel_url=$(curl -s "$BOOTSVC_ADVERTISE_URL/boot/node.ipxe?mac=52-54-00-12-34-01" | awk '/^kernel /{print $4}')
show curl -sI "$kernel_url"

step "Boot reports and the server's log lines for hv1"
show bootsvc reports
grep 52:54:00:12:34:01 "$BOOTSVC_DATA_DIR/serve.log" || true
