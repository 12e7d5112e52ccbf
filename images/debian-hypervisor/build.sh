#!/bin/bash
# Builds the debian-hypervisor image: a Debian bookworm live system (kernel,
# live-boot initramfs, squashfs root) with the cluster, storage and
# virtualisation stack of a diskless KVM hypervisor (packages.txt), booted
# with `boot=live fetch=URL`. Needs root, mmdebstrap and squashfs-tools, and
# a Debian mirror.
#
#   build.sh --version V --out DIR [--mirror URL] [--cache DIR]
#            [--extra-package NAME]... [--kernel-package IGNORED] [--debs IGNORED]
#
# Writes DIR/vmlinuz, DIR/initrd.img, DIR/root.squashfs, DIR/packages.tsv
# and DIR/manifest.yaml. With --cache, the root's artifacts are kept there,
# keyed by everything but the version; the version lives in a few bytes
# appended to the initrd. (--kernel-package and --debs are accepted
# so that every recipe is driven the same way; this one takes the kernel from
# the mirror.)
set -euo pipefail

recipe=$(cd "$(dirname "$0")" && pwd)
common="$recipe/../common"
image=debian-hypervisor
# shellcheck source=../common/mirror-recipe-args
. "$common/mirror-recipe-args"

mapfile -t packages < <(grep -v '^\s*#' "$recipe/packages.txt" | grep -v '^\s*$')
packages+=("${extra[@]}")

work=$(mktemp -d)
partial=""
trap 'rm -rf "$work" ${partial:+"$partial"}' EXIT
root="$work/root"
mkdir -p "$out"

install_root() {
    mmdebstrap --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" \
        --customize-hook="copy-in '$common/bootsvc-overlay' /etc/initramfs-tools/scripts/init-bottom/" \
        --customize-hook="copy-in '$common/bootsvc-attest' /etc/initramfs-tools/scripts/init-bottom/" \
        --customize-hook="upload '$recipe/files/initramfs-hook-bootsvc-attest' /etc/initramfs-tools/hooks/bootsvc-attest" \
        --customize-hook="copy-in '$recipe/files/bootsvc-report' /usr/local/sbin/" \
        --customize-hook="copy-in '$recipe/files/bootsvc-report.service' /etc/systemd/system/" \
        --customize-hook="copy-in '$recipe/files/10-boot.network' /etc/systemd/network/" \
        --customize-hook='mkdir -p "$1/etc/systemd/system/ssh.service.d"' \
        --customize-hook="copy-in '$recipe/files/ssh-host-keys.conf' /etc/systemd/system/ssh.service.d/" \
        --customize-hook='echo debian-hypervisor > "$1/etc/hostname"' \
        --customize-hook='chmod 0755 "$1/usr/local/sbin/bootsvc-report" "$1"/etc/initramfs-tools/scripts/init-bottom/bootsvc-* "$1/etc/initramfs-tools/hooks/bootsvc-attest"' \
        --customize-hook='chroot "$1" systemctl enable systemd-networkd bootsvc-report.service' \
        --customize-hook='chroot "$1" systemctl disable pcsd.service pcsd-ruby.service' \
        --customize-hook='chroot "$1" update-initramfs -u -k all' \
        --customize-hook='rm -f "$1"/etc/ssh/ssh_host_*; : > "$1/etc/machine-id"; rm -rf "$1"/var/lib/apt/lists/*' \
        "$suite" "$root" \
        "deb $mirror $suite main" "deb $mirror $suite-updates main" \
        "deb http://deb.debian.org/debian-security $suite-security main"
}

# The kernel, initramfs, squashfs and package list of the installed root, in
# $1: everything a version has but its version stamp.
make_base() {
    install_root
    kver=$(ls "$root/lib/modules" | sort -V | tail -n 1)
    mkdir -p "$1"
    cp "$root/boot/vmlinuz-$kver" "$1/vmlinuz"
    cp "$root/boot/initrd.img-$kver" "$1/initrd.img"
    echo "$kver" > "$1/kernel-version"
    dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Package}\t${Version}\n' > "$1/packages.tsv"
    # zstd, not xz: a node decompresses every page it reads from the root, and
    # zstd does that about ten times faster for a tenth more bytes to fetch.
    mksquashfs "$root" "$1/root.squashfs" -noappend -quiet -comp zstd -e boot >/dev/null
}

base="$work/base"
if [ -n "$cache" ]; then
    # Everything that goes into the root, but not the version: another
    # version of the same root costs only its stamp.
    key=$( { printf '%s\n' "$mirror" "$suite" "${packages[@]}"; cat "$0";
             find "$recipe/files" "$common" -type f -print0 | sort -z | xargs -0 sha256sum; } |
           sha256sum | cut -c1-20)
    base="$cache/root-$key"
    if [ -f "$base/root.squashfs" ]; then
        echo "build.sh: root from $base" >&2
    else
        partial="$base.partial-$$"
        make_base "$partial"
        rm -rf "$base" && mv "$partial" "$base"
        partial=""
        # Roots of earlier inputs; not the partial root of a build still running.
        find "$cache" -maxdepth 1 -name 'root-*' ! -name "root-$key" ! -name '*.partial-*' \
            -exec rm -rf {} +
    fi
else
    make_base "$base"
fi
kver=$(cat "$base/kernel-version")
for file in vmlinuz initrd.img root.squashfs packages.tsv; do
    cp "$base/$file" "$out/$file"
done

# The version, baked into the version's initrd as a file under the overlay
# hook's prefix, which puts it in the root: a node reports what it really
# runs. The kernel unpacks an archive that follows another (this one, then
# the bootsvc overlay) only from a 4-byte aligned offset, and the EFI stub of
# UEFI boots joins initrd= files without padding: pad with zeros, which the
# unpacker skips.
stamp="$work/stamp"
mkdir -p "$stamp/bootsvc/root/etc"
printf 'IMAGE=%s\nVERSION=%s\n' "$image" "$version" > "$stamp/bootsvc/root/etc/bootsvc-image"
truncate -s %4 "$out/initrd.img"
(cd "$stamp" && find bootsvc | cpio -o -H newc -R 0:0 --quiet) >> "$out/initrd.img"
truncate -s %4 "$out/initrd.img"

sh "$common/write-manifest" "$out" "$image" "$version" \
    "boot=live fetch={{ rootfs_url }} console=ttyS0" \
    "Debian $suite hypervisor $version: kernel $kver, corosync, pacemaker, pcs, openvswitch, ceph mon/mgr/osd, libvirt"
echo "built $image $version in $out (kernel $kver)"
