#!/bin/bash
# dracut module "bootsvc": carries the shared overlay hook (bootsvc-overlay,
# beside this file) into the initramfs and runs it before switch_root, so the
# per-node files bootsvc delivers under /bootsvc/root reach the new root.
# Before it, the attestation client (bootsvc-attest) fetches the secrets of a
# node whose secrets are sealed to its TPM. Install this folder as
# /usr/lib/dracut/modules.d/95bootsvc (with both scripts as files, not
# links) and build with `--add bootsvc`.

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
    # Attestation needs tpm2-tools and openssl in the image; without them the
    # client says so on the console and the node boots without secrets.
    inst_multiple -o tpm2 tpm2_createek tpm2_createak tpm2_flushcontext \
        tpm2_startauthsession tpm2_policysecret tpm2_activatecredential openssl
    inst_libdir_file -o "libtss2-tcti-device.so*"
    inst_multiple cpio gzip od head tail mktemp awk sed tr cut
    inst_simple "$moddir/bootsvc-attest" /usr/lib/bootsvc/bootsvc-attest
    inst_hook pre-pivot 80 "$moddir/bootsvc-attest-pre-pivot.sh"
}
