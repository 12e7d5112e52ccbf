#!/bin/bash
# Builds the debian-dracut image: a small Debian bookworm live system whose
# initramfs is dracut's, not initramfs-tools': livenet fetches the squashfs
# root (`root=live:URL`), dmsquash-live mounts it under a writable overlay,
# and the bootsvc module (../common/dracut/95bootsvc) copies the per-node
# files into it before switch_root. It proves that boot path; it carries no
# cluster stack. Needs root, mmdebstrap and squashfs-tools, and a Debian mirror.
#
#   build.sh --version V --out DIR [--mirror URL] [--cache DIR]
#            [--extra-package NAME]... [--kernel-package IGNORED] [--debs IGNORED]
#
# Writes DIR/vmlinuz, DIR/initrd.img, DIR/root.squashfs, DIR/packages.tsv
# and DIR/manifest.yaml. With --cache, the installed root is kept there as a
# tar keyed by everything but the version. (--kernel-package and --debs are
# accepted so that every recipe is driven the same way; this one takes the
# kernel from the mirror.)
set -euo pipefail

recipe=$(cd "$(dirname "$0")" && pwd)
common="$recipe/../common"
# The boot report, its unit and the DHCP network file of debian-hypervisor:
# one copy of each, shared.
shared="$recipe/../debian-hypervisor/files"
image=debian-dracut
# shellcheck source=../common/mirror-recipe-args
. "$common/mirror-recipe-args"

packages=(
    # boot: the kernel, and dracut with its network and live-root modules
    # (network-legacy needs dhclient and pgrep, livenet curl)
    linux-image-amd64 dracut dracut-core dracut-network dracut-live
    isc-dhcp-client procps curl
    # attested delivery: the bootsvc module's client runs tpm2-tools and openssl
    tpm2-tools openssl
    # the root: systemd with networkd, and what the boot report runs
    systemd-sysv udev iproute2
)
packages+=("${extra[@]}")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$out"

# The module as dracut finds it, with the shared hook as a real file.
module="$work/95bootsvc"
cp -rL "$common/dracut/95bootsvc" "$module"

install_root() {
    # The modules (bootsvc's, and this recipe's fix for dracut 059's live
    # overlayfs) and dracut's configuration are in place before the kernel
    # is installed, whose postinst makes the initrd.
    mmdebstrap --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" \
        --essential-hook='mkdir -p "$1/usr/lib/dracut/modules.d" "$1/etc/dracut.conf.d"' \
        --essential-hook="copy-in '$module' '$recipe/dracut/90overlayfs-dirs' /usr/lib/dracut/modules.d/" \
        --essential-hook="upload '$recipe/dracut.conf' /etc/dracut.conf.d/50-bootsvc.conf" \
        --customize-hook="copy-in '$shared/bootsvc-report' /usr/local/sbin/" \
        --customize-hook="copy-in '$shared/bootsvc-report.service' /etc/systemd/system/" \
        --customize-hook="copy-in '$shared/10-boot.network' /etc/systemd/network/" \
        --customize-hook='echo debian-dracut > "$1/etc/hostname"' \
        --customize-hook='chmod 0755 "$1/usr/local/sbin/bootsvc-report"' \
        --customize-hook='chroot "$1" systemctl enable systemd-networkd bootsvc-report.service' \
        --customize-hook='chroot "$1" sh -c "lsinitrd /boot/initrd.img-*" > "$1/../initrd.list"
            for part in usr/lib/bootsvc/bootsvc-overlay overlayfs-dirs.sh livenetroot \
                dmsquash-live-root dhclient; do
                grep -q "$part" "$1/../initrd.list" ||
                    { echo "build.sh: the initrd has no $part" >&2; exit 1; }
            done' \
        --customize-hook=': > "$1/etc/machine-id"; rm -rf "$1"/var/lib/apt/lists/*' \
        "$suite" "$root" \
        "deb $mirror $suite main" "deb $mirror $suite-updates main" \
        "deb http://deb.debian.org/debian-security $suite-security main"
}

if [ -n "$cache" ]; then
    # Everything that goes into the root, but not the version.
    key=$( { printf '%s\n' "$mirror" "$suite" "${packages[@]}"; cat "$0";
             find "$recipe/dracut.conf" "$recipe/dracut" "$shared" "$common" -type f -print0 |
             sort -z |
             xargs -0 sha256sum; } |
           sha256sum | cut -c1-20)
    cached="$cache/root-$key.tar"
    mkdir -p "$cache"
    if [ -f "$cached" ]; then
        echo "build.sh: root from $cached" >&2
        mkdir -p "$root"
        tar -C "$root" --numeric-owner --xattrs -xpf "$cached"
    else
        install_root
        tar -C "$root" --numeric-owner --xattrs -cf "$cached.partial-$$" .
        mv "$cached.partial-$$" "$cached"
        find "$cache" -maxdepth 1 -name 'root-*.tar' ! -name "root-$key.tar" -delete
    fi
else
    install_root
fi

# The version, baked in: a node reports what it really runs.
printf 'IMAGE=%s\nVERSION=%s\n' "$image" "$version" > "$root/etc/bootsvc-image"
dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Package}\t${Version}\n' > "$out/packages.tsv"

kver=$(ls "$root/lib/modules" | sort -V | tail -n 1)
cp "$root/boot/vmlinuz-$kver" "$out/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$out/initrd.img"
# dracut writes it for root only; it is served to every node.
chmod 0644 "$out/initrd.img"
# The kernel unpacks an initrd that follows this one (the bootsvc overlay)
# only from a 4-byte aligned offset, and the EFI stub of UEFI boots joins
# initrd= files without padding: pad with zeros, which the unpacker skips.
truncate -s %4 "$out/initrd.img"
# zstd, not xz: a node decompresses every page it reads from the root, and
# zstd does that about ten times faster for a tenth more bytes to fetch.
mksquashfs "$root" "$out/root.squashfs" -noappend -quiet -comp zstd -e boot >/dev/null

sh "$common/write-manifest" "$out" "$image" "$version" \
    "root=live:{{ rootfs_url }} rd.live.ram=1 rd.neednet=1 ip=dhcp console=ttyS0" \
    "Debian $suite $version booted by dracut (livenet, dmsquash-live, bootsvc): kernel $kver"
echo "built $image $version in $out (kernel $kver)"
