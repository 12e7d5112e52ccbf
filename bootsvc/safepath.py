"""Resolving a file name a network client sent against a directory.

Clients send names like "/undionly.kpxe" or "efi/snponly.efi"; whatever they
send, and whatever symlinks the directory holds, nothing outside the directory
is served. TFTP and the HTTP loader route both resolve names here.

One exception, for names the caller trusts: the loaders bootsvc itself hands
out in its DHCP replies. A symlink by such a name directly in the directory
is the installation's choice, not a client's (Debian's ipxe package links
/usr/lib/ipxe/ipxe.efi to /boot/ipxe.efi), so it is followed.
"""

from __future__ import annotations

import errno
import stat
from collections.abc import Collection
from pathlib import Path


class OutsideRoot(Exception):
    """The name climbs out of the directory, directly or through a symlink."""


def resolve_within(root: Path, name: str, trusted: Collection[str] = ()) -> Path:
    """The real path of the regular file `name` names below `root`.

    Raises OutsideRoot for ".." components and for symlinks whose target lies
    outside `root` (unless `name` is one of the `trusted` names directly in
    `root`), FileNotFoundError when there is no regular file there.
    """
    parts = [part for part in name.replace("\\", "/").split("/") if part not in {"", "."}]
    if ".." in parts:
        raise OutsideRoot(name)
    if not parts or "\0" in name:
        raise FileNotFoundError(name)
    real_root = root.resolve()
    real = real_root.joinpath(*parts).resolve()
    outside = real == real_root or not real.is_relative_to(real_root)
    if outside and not (len(parts) == 1 and parts[0] in trusted):
        raise OutsideRoot(name)
    try:
        mode = real.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise FileNotFoundError(name) from None
    except OSError as exc:
        # A name longer than the file system takes (ENAMETOOLONG) names no file.
        if exc.errno != errno.ENAMETOOLONG:
            raise
        raise FileNotFoundError(name) from None
    if not stat.S_ISREG(mode):
        raise FileNotFoundError(name)
    return real
