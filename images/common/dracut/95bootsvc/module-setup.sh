#!/bin/bash
# dracut module "bootsvc": carries the shared overlay hook (bootsvc-overlay,
# beside this file) into the initramfs and runs it before switch_root, so the
# per-node files bootsvc delivers under /bootsvc/root reach the new root.
# Install this folder as /usr/lib/dracut/modules.d/95bootsvc (with
# bootsvc-overlay as a file, not a link) and build with `--add bootsvc`.

# Only when asked for: the image's dracut.conf.d or `--add bootsvc`.
check() {
    return 255
}

depends() {
    return 0
}

install() {
    # The hook copies with cp -a and counts with find and wc.
    inst_multiple cp find wc mkdir
    # shellcheck disable=SC2154 # dracut sets moddir to this folder
    inst_simple "$moddir/bootsvc-overlay" /usr/lib/bootsvc/bootsvc-overlay
    inst_hook pre-pivot 90 "$moddir/bootsvc-pre-pivot.sh"
}
