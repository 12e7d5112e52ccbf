#!/bin/bash
# Builds the arm64 variant of busybox-test: Debian's arm64 kernel, the same
# busybox initramfs and root (../busybox-test/initramfs, ../busybox-test/rootfs)
# with arm64 busybox. Nothing is installed or run: the arm64 packages are
# downloaded with apt and unpacked with dpkg-deb, so the host needs arm64 in
# its dpkg architectures (dpkg --add-architecture arm64; apt-get update).
# The initramfs carries no attestation client (its tools would be the host's
# x86 programs): bootsvc-attest says so and the boot goes on.
#
#   build.sh --version 1 --out DIR [--kernel-package linux-image-X-arm64] [--debs DIR]
#            [--cache DIR]
#
# Writes what busybox-test's build.sh writes, for image busybox-test-arm64,
# with console=ttyAMA0 (the PL011 of QEMU's virt machine and of many servers).
set -euo pipefail

recipe=$(cd "$(dirname "$0")" && pwd)
shared="$recipe/../busybox-test"
common="$recipe/../common"
image=busybox-test-arm64
version=""
out=""
kernel_package=""
debs=""
modules="virtio_pci virtio_net af_packet loop squashfs overlay"
epoch=946684800

while [ $# -gt 0 ]; do
    case "$1" in
    --version) version="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --kernel-package) kernel_package="$2"; shift 2 ;;
    --debs) debs="$2"; shift 2 ;;
    --cache) shift 2 ;;
    --mirror | --extra-package)
        echo "build.sh: busybox-test-arm64 takes no $1: it packs only Debian's arm64 kernel and busybox" >&2
        exit 2 ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$version" ] && [ -n "$out" ] || {
    echo "usage: build.sh --version V --out DIR [--kernel-package P] [--debs DIR] [--cache DIR]" >&2
    exit 2
}
dpkg --print-foreign-architectures | grep -qx arm64 || {
    echo "build.sh: arm64 is not a dpkg architecture here: dpkg --add-architecture arm64; apt-get update" >&2
    exit 1
}
if [ -z "$kernel_package" ]; then
    kernel_package=$(apt-cache depends linux-image-arm64:arm64 | awk '/Depends: linux-image-/ { print $2; exit }')
fi
kernel_package=${kernel_package%:arm64}
[ -n "$kernel_package" ] || { echo "build.sh: no arm64 kernel package found" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
debs=${debs:-$work/debs}
mkdir -p "$debs" "$out"

# The newest .deb of an arm64 package in $debs, downloaded if missing; its
# path is the only output.
arm64_deb() {
    local package=$1 found
    found=$(find "$debs" -maxdepth 1 -name "${package}_*_arm64.deb" | sort | tail -n 1)
    if [ -z "$found" ]; then
        (cd "$debs" && apt-get download -q "$package:arm64" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true) >&2
        found=$(find "$debs" -maxdepth 1 -name "${package}_*_arm64.deb" | sort | tail -n 1)
    fi
    [ -n "$found" ] || { echo "build.sh: could not download $package:arm64" >&2; exit 1; }
    echo "$found"
}
deb=$(arm64_deb "$kernel_package")
busybox_deb=$(arm64_deb busybox-static)
dpkg-deb -x "$deb" "$work/kernel"
dpkg-deb -x "$busybox_deb" "$work/busybox"
kver=$(ls "$work/kernel/lib/modules")
depmod -b "$work/kernel" "$kver"

# arm64 busybox with the applets of the host's busybox-static, whose list
# the arm64 binary cannot give here: the same Debian source and configuration.
install_busybox() {
    local root=$1 applet
    mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin"
    cp "$work/busybox/bin/busybox" "$root/bin/busybox"
    for applet in $(/bin/busybox --list-full); do
        [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
    done
    ln -sf busybox "$root/bin/sh"
}

initramfs="$work/initramfs"
mkdir -p "$initramfs"/{dev,proc,sys,run,newroot,etc,scripts/init-bottom,tmp}
install_busybox "$initramfs"
install -m 0755 "$shared/initramfs/init" "$initramfs/init"
install -m 0755 "$shared/initramfs/udhcpc.script" "$initramfs/etc/udhcpc.script"
install -m 0755 "$common/bootsvc-overlay" "$initramfs/scripts/init-bottom/bootsvc-overlay"
install -m 0755 "$common/bootsvc-attest" "$initramfs/sbin/bootsvc-attest"
mkdir -p "$initramfs/lib/modules"
: >"$initramfs/lib/modules/load-order"
for module in $modules; do
    modprobe -d "$work/kernel" -S "$kver" --show-depends "$module" | while read -r kind path _; do
        [ "$kind" = insmod ] || continue
        relative=${path#"$work/kernel"}
        grep -qxF "$relative" "$initramfs/lib/modules/load-order" && continue
        install -D -m 0644 "$path" "$initramfs$relative"
        echo "$relative" >>"$initramfs/lib/modules/load-order"
    done
done

rootfs="$work/rootfs"
mkdir -p "$rootfs"/{dev,proc,sys,run,tmp,root,etc}
cp -a "$shared/rootfs/." "$rootfs/"
chmod 0755 "$rootfs/sbin/init"
chmod 0644 "$rootfs/etc/hostname" "$rootfs/etc/hosts"
install_busybox "$rootfs"
printf 'IMAGE=%s\nVERSION=%s\n' "$image" "$version" >"$rootfs/etc/bootsvc-image"
chmod 1777 "$rootfs/tmp" "$initramfs/tmp"

find "$initramfs" "$rootfs" -exec touch -h -d "@$epoch" {} +
(cd "$initramfs" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible) \
    | gzip -9n >"$out/initrd.img"
mksquashfs "$rootfs" "$out/root.squashfs" -noappend -quiet -all-root -no-xattrs \
    -comp xz -mkfs-time "$epoch" -all-time "$epoch" >/dev/null
cp "$work/kernel/boot/vmlinuz-$kver" "$out/vmlinuz"
# As for busybox-test: the overlay initrd that follows must start 4-byte aligned.
truncate -s %4 "$out/initrd.img"

busybox_version=$(dpkg-deb -f "$busybox_deb" Version)
{
    dpkg-deb -W --showformat='${Package}\t${Version}\n' "$deb"
    dpkg-deb -W --showformat='${Package}\t${Version}\n' "$busybox_deb"
} >"$out/packages.tsv"
sh "$common/write-manifest" "$out" "$image" "$version" \
    "console=ttyAMA0 quiet panic=10 fetch={{ rootfs_url }}" \
    "busybox test image $version for arm64: Debian kernel $kver ($kernel_package), busybox $busybox_version"
echo "built $image $version in $out (kernel $kver, arm64)"
