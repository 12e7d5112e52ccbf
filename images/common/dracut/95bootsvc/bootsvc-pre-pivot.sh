#!/bin/sh
# dracut pre-pivot hook: copies the per-node files bootsvc delivered under
# /bootsvc/root into the new root at $NEWROOT, with the shared overlay hook.
# dracut sources its hooks, so the hook runs in a shell of its own: its
# `exit` must not end dracut's init. A failure leaves the node booting on the
# image's defaults, which its boot report shows (overlay_files 0).
rootmnt="$NEWROOT" sh /usr/lib/bootsvc/bootsvc-overlay ||
    warn "bootsvc-overlay: the per-node files were not copied into $NEWROOT"
