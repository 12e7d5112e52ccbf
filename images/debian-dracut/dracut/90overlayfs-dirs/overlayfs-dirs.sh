#!/bin/sh
# dracut pre-mount hook: the upper and work directories of the live root's
# overlayfs, before sysroot.mount needs them (see module-setup.sh).
mkdir -p /run/overlayfs /run/ovlwork
