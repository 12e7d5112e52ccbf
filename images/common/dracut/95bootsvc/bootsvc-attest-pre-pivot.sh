#!/bin/sh
# dracut pre-pivot hook, before the overlay's: with bootsvc.attest=1 on the
# kernel command line, fetches the node's secrets sealed to its TPM into
# /bootsvc/root, where the overlay hook finds them. In a shell of its own, as
# dracut sources hooks; a refusal leaves the node booting without secrets.
sh /usr/lib/bootsvc/bootsvc-attest ||
    warn "bootsvc-attest: no secrets from the TPM; see the lines above"
