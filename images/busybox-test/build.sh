#!/bin/bash
# Builds the busybox-test image: a Debian kernel, a busybox initramfs that
# fetches a squashfs root over HTTP and switch_roots into it, and that root.
# Nothing is installed on the host: the kernel package is downloaded and
# unpacked with dpkg-deb. Needs busybox-static, squashfs-tools, cpio, kmod,
# and tpm2-tools and openssl, whose programs and libraries the initramfs
# carries for attested delivery (../common/bootsvc-attest).
#
#   build.sh --version 1 --out DIR [--kernel-package linux-image-X-amd64] [--debs DIR]
#            [--cache DIR]
#
# Writes DIR/vmlinuz, DIR/initrd.img, DIR/root.squashfs, DIR/manifest.yaml
# (format bootsvc-image/1, for `bootsvc image import DIR/manifest.yaml`) and
# DIR/packages.tsv (the kernel package, busybox-static, and the packages of
# the attestation client's programs and libraries, name TAB version).
# --cache is accepted like every recipe's and unused (the .debs go to --debs).
# --mirror and --extra-package are refused: the kernel comes from the host's
# apt sources and the image holds nothing but that kernel and busybox.
# The same inputs give the same bytes (timestamps and owners are fixed), so an
# import of a rebuild changes nothing. Callers cache by inputs (bootsvc lab does).
set -euo pipefail

recipe=$(cd "$(dirname "$0")" && pwd)
common="$recipe/../common"
image=busybox-test
version=""
out=""
kernel_package=""
debs=""
# Modules the initramfs loads, in dependency order (modprobe resolves them).
modules="virtio_pci virtio_net af_packet loop squashfs overlay"
# 2000-01-01: a fixed time for every file, so builds are reproducible.
epoch=946684800

while [ $# -gt 0 ]; do
    case "$1" in
    --version) version="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --kernel-package) kernel_package="$2"; shift 2 ;;
    --debs) debs="$2"; shift 2 ;;
    --cache) shift 2 ;;
    --mirror | --extra-package)
        echo "build.sh: busybox-test takes no $1: it packs only the host's kernel package and busybox" >&2
        exit 2 ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$version" ] && [ -n "$out" ] || {
    echo "usage: build.sh --version V --out DIR [--kernel-package P] [--debs DIR] [--cache DIR]" >&2
    exit 2
}
if [ -z "$kernel_package" ]; then
    kernel_package=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ { print $2; exit }')
fi
[ -n "$kernel_package" ] || { echo "build.sh: no kernel package found" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
debs=${debs:-$work/debs}
mkdir -p "$debs" "$out"

deb=$(find "$debs" -maxdepth 1 -name "${kernel_package}_*.deb" | sort | tail -n 1)
if [ -z "$deb" ]; then
    (cd "$debs" && apt-get download -q "$kernel_package" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
    deb=$(find "$debs" -maxdepth 1 -name "${kernel_package}_*.deb" | sort | tail -n 1)
fi
[ -n "$deb" ] || { echo "build.sh: could not download $kernel_package" >&2; exit 1; }
dpkg-deb -x "$deb" "$work/kernel"
kver=$(ls "$work/kernel/lib/modules")
depmod -b "$work/kernel" "$kver"

# busybox and its applets as symlinks, in a root-to-be.
install_busybox() {
    local root=$1 applet
    mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin"
    cp /bin/busybox "$root/bin/busybox"
    for applet in $(/bin/busybox --list-full); do
        [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
    done
    ln -sf busybox "$root/bin/sh"
}

# Programs of this host and the shared libraries they load, at the same paths;
# prints the files copied. The TCTI is loaded by name, so it is listed too.
install_with_libraries() {
    local root=$1 file library
    shift
    for file in "$@"; do
        install -D -m 0755 "$(readlink -f "$file")" "$root$file"
        echo "$file"
        ldd "$file" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
            while read -r library; do
                [ -e "$root$library" ] && continue
                install -D -m 0755 "$(readlink -f "$library")" "$root$library"
                echo "$library"
            done
    done
}
attest_files=(/usr/bin/tpm2 /usr/bin/openssl /usr/lib/x86_64-linux-gnu/libtss2-tcti-device.so.0)
attest_tools="createek createak flushcontext startauthsession policysecret activatecredential"

# The initramfs.
initramfs="$work/initramfs"
mkdir -p "$initramfs"/{dev,proc,sys,run,newroot,etc,scripts/init-bottom,tmp}
install_busybox "$initramfs"
install -m 0755 "$recipe/initramfs/init" "$initramfs/init"
install -m 0755 "$recipe/initramfs/udhcpc.script" "$initramfs/etc/udhcpc.script"
install -m 0755 "$common/bootsvc-overlay" "$initramfs/scripts/init-bottom/bootsvc-overlay"
install -m 0755 "$common/bootsvc-attest" "$initramfs/sbin/bootsvc-attest"
install_with_libraries "$initramfs" "${attest_files[@]}" >"$work/attest-files"
for tool in $attest_tools; do
    ln -sf tpm2 "$initramfs/usr/bin/tpm2_$tool"
done
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

# The root filesystem.
rootfs="$work/rootfs"
mkdir -p "$rootfs"/{dev,proc,sys,run,tmp,root,etc}
cp -a "$recipe/rootfs/." "$rootfs/"
# An installed copy of the recipe may have lost its modes.
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
# The kernel unpacks an initrd that follows this one (the bootsvc overlay)
# only from a 4-byte aligned offset, and the EFI stub of UEFI boots joins
# initrd= files without padding: pad with zeros, which the unpacker skips.
truncate -s %4 "$out/initrd.img"

busybox_version=$(dpkg-query -W -f='${Version}' busybox-static)
{
    dpkg-deb -W --showformat='${Package}\t${Version}\n' "$deb"
    dpkg-query -W -f='${Package}\t${Version}\n' busybox-static
    # The packages the attestation client's files came from.
    while read -r file; do
        dpkg -S "$file" 2>/dev/null || dpkg -S "$(readlink -f "$file")"
    done <"$work/attest-files" | cut -d: -f1 | LC_ALL=C sort -u |
        xargs dpkg-query -W -f='${Package}\t${Version}\n'
} >"$out/packages.tsv"
sh "$common/write-manifest" "$out" "$image" "$version" \
    "console=ttyS0 quiet panic=10 fetch={{ rootfs_url }}" \
    "busybox test image $version: Debian kernel $kver ($kernel_package), busybox $busybox_version"
echo "built $image $version in $out (kernel $kver)"
