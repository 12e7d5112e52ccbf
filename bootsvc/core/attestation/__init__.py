"""Attested delivery: a node's secrets sealed to its TPM's endorsement key,
so that only that TPM can open them (TPM2 MakeCredential/ActivateCredential)."""
