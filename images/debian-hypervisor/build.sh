#!/bin/bash
# Builds the debian-hypervisor image: a Debian bookworm live system (kernel,
# live-boot initramfs, squashfs root) with the cluster and virtualisation
# stack of a diskless KVM hypervisor, booted with `boot=live fetch=URL`.
# Needs root, mmdebstrap and squashfs-tools, and a Debian mirror; takes
# several minutes, so it is built by hand, not in the test suite.
#
#   build.sh --version 1 --out DIR [--mirror URL] [--kernel-package IGNORED] [--debs IGNORED]
#
# Writes DIR/vmlinuz, DIR/initrd.img, DIR/root.squashfs and DIR/manifest.yaml.
# (--kernel-package and --debs are accepted so that `bootsvc lab image` can
# drive every recipe the same way; this one takes the kernel from the mirror.)
set -euo pipefail

recipe=$(cd "$(dirname "$0")" && pwd)
common="$recipe/../common"
image=debian-hypervisor
version=""
out=""
mirror=http://deb.debian.org/debian
suite=bookworm

while [ $# -gt 0 ]; do
    case "$1" in
    --version) version="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --mirror) mirror="$2"; shift 2 ;;
    --kernel-package | --debs) shift 2 ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$version" ] && [ -n "$out" ] || {
    echo "usage: build.sh --version V --out DIR [--mirror URL]" >&2
    exit 2
}
[ "$(id -u)" = 0 ] || { echo "build.sh: mmdebstrap needs root here" >&2; exit 1; }

packages=(
    # boot: the kernel, and an initramfs that fetches the root over HTTP
    linux-image-amd64 live-boot initramfs-tools busybox systemd-sysv udev dbus
    # cluster membership and resources
    corosync pacemaker pacemaker-cli-utils
    # networking of the VMs
    openvswitch-switch
    # storage: the Ceph client (RBD for VM disks)
    ceph-common
    # virtualisation (bookworm has no qemu-kvm package: qemu-system-x86 runs KVM)
    libvirt-daemon-system libvirt-clients qemu-system-x86
    # management and reporting
    openssh-server chrony curl ca-certificates iproute2 procps less
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$out"

mmdebstrap --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" \
    --customize-hook="copy-in '$common/bootsvc-overlay' /etc/initramfs-tools/scripts/init-bottom/" \
    --customize-hook="copy-in '$recipe/files/bootsvc-report' /usr/local/sbin/" \
    --customize-hook="copy-in '$recipe/files/bootsvc-report.service' /etc/systemd/system/" \
    --customize-hook="copy-in '$recipe/files/10-boot.network' /etc/systemd/network/" \
    --customize-hook='mkdir -p "$1/etc/systemd/system/ssh.service.d"' \
    --customize-hook="copy-in '$recipe/files/ssh-host-keys.conf' /etc/systemd/system/ssh.service.d/" \
    --customize-hook="echo 'IMAGE=$image' > \"\$1/etc/bootsvc-image\"; echo 'VERSION=$version' >> \"\$1/etc/bootsvc-image\"" \
    --customize-hook='echo debian-hypervisor > "$1/etc/hostname"' \
    --customize-hook='chmod 0755 "$1/usr/local/sbin/bootsvc-report" "$1/etc/initramfs-tools/scripts/init-bottom/bootsvc-overlay"' \
    --customize-hook='chroot "$1" systemctl enable systemd-networkd bootsvc-report.service' \
    --customize-hook='chroot "$1" update-initramfs -u -k all' \
    --customize-hook='rm -f "$1"/etc/ssh/ssh_host_*; : > "$1/etc/machine-id"; rm -rf "$1"/var/lib/apt/lists/*' \
    "$suite" "$root" \
    "deb $mirror $suite main" "deb $mirror $suite-updates main" \
    "deb http://deb.debian.org/debian-security $suite-security main"

kver=$(ls "$root/lib/modules" | sort -V | tail -n 1)
cp "$root/boot/vmlinuz-$kver" "$out/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$out/initrd.img"
# The kernel unpacks an initrd that follows this one (the bootsvc overlay)
# only from a 4-byte aligned offset, and the EFI stub of UEFI boots joins
# initrd= files without padding: pad with zeros, which the unpacker skips.
truncate -s %4 "$out/initrd.img"
mksquashfs "$root" "$out/root.squashfs" -noappend -quiet -comp xz -e boot >/dev/null

sh "$common/write-manifest" "$out" "$image" "$version" \
    "boot=live fetch={{ rootfs_url }} console=ttyS0" \
    "Debian $suite hypervisor $version: kernel $kver, corosync, pacemaker, openvswitch, ceph-common, libvirt"
echo "built $image $version in $out (kernel $kver)"
