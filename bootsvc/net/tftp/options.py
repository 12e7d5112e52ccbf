"""Option negotiation (RFC 2347): blksize (RFC 2348) and tsize (RFC 2349).

Every other option is left out of the OACK, which per RFC 2347 means the
client goes on without it. That includes windowsize (RFC 7440), which newer
edk2 may ask for: the transfer then runs lock-step, one ACK per block, as
every firmware client supports. timeout (RFC 2349) is ignored too: the server
resends on its own short timer whatever the client would like.
"""

from __future__ import annotations

from dataclasses import dataclass

from bootsvc import digits

MIN_BLKSIZE = 8
MAX_BLKSIZE = 65464  # RFC 2348
DEFAULT_BLKSIZE = 512
# IPv4 header, UDP header and the TFTP DATA header around one block.
BLOCK_OVERHEAD = 20 + 8 + 4
_MAX_DIGITS = 10


class BadOption(Exception):
    """The request carries an option value no client could mean."""


@dataclass(frozen=True)
class Wanted:
    blksize: int | None
    tsize: bool


def _number(name: str, value: str) -> int:
    found = digits.number(value, _MAX_DIGITS)
    if found is None:
        raise BadOption(f"{name} {value!r} is not a number")
    return found


def parse(options: dict[str, str]) -> Wanted:
    lowered = {key.lower(): value for key, value in options.items()}
    blksize = None
    if "blksize" in lowered:
        blksize = _number("blksize", lowered["blksize"])
        if blksize < MIN_BLKSIZE:
            raise BadOption(f"blksize {blksize} is below {MIN_BLKSIZE}")
    tsize = "tsize" in lowered
    if tsize:
        _number("tsize", lowered["tsize"])
    return Wanted(blksize, tsize)


def accept(wanted: Wanted, size: int, mtu: int | None) -> dict[str, str]:
    """The OACK: the block size the client asked for, capped so that a block
    fits the link's MTU, and the file's size."""
    accepted: dict[str, str] = {}
    if wanted.blksize is not None:
        ceiling = MAX_BLKSIZE if mtu is None else min(MAX_BLKSIZE, mtu - BLOCK_OVERHEAD)
        accepted["blksize"] = str(max(MIN_BLKSIZE, min(wanted.blksize, ceiling)))
    if wanted.tsize:
        accepted["tsize"] = str(size)
    return accepted
