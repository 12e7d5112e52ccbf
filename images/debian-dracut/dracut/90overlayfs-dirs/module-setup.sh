#!/bin/bash
# dracut module "overlayfs-dirs": makes the upper and work directories of
# dmsquash-live's overlayfs root before systemd mounts /sysroot. dracut 059
# makes them only in its mount hook, after sysroot.mount has run, so a plain
# squashfs root (no LiveOS/rootfs.img in it) fails to mount under systemd
# ("overlayfs: failed to resolve '/run/overlayfs'"); later dracut makes them
# at pre-mount, as this does.

# Only when asked for: the image's dracut.conf.d.
check() {
    return 255
}

depends() {
    echo dmsquash-live
    return 0
}

install() {
    # shellcheck disable=SC2154 # dracut sets moddir to this folder
    inst_hook pre-mount 01 "$moddir/overlayfs-dirs.sh"
}
