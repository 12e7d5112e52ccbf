"""SSH host keys: the .pub line bootsvc serves is the one the private key
stands for."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from bootsvc.core.nodeconfig import keys


@pytest.mark.parametrize("kind", keys.SSH_HOST_KEY_TYPES)
def test_public_line_is_the_private_keys_own(kind: str) -> None:
    private = keys.ssh_host_key(kind)
    loaded = serialization.load_ssh_private_key(private, password=None)
    expected = loaded.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    assert keys.ssh_public_line(private, "root@hv1") == expected + b" root@hv1\n"


def test_public_line_refuses_what_is_not_an_openssh_key() -> None:
    with pytest.raises(ValueError, match="not an OpenSSH private key"):
        keys.ssh_public_line(b"-----BEGIN X-----\nAAAA\n-----END X-----\n", "root@hv1")
