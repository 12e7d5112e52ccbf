"""What the TFTP server asks of whoever decides what a name means.

The server knows sockets and packets, nothing about nodes or images: it hands
each read request to a FileSource, which answers with an open file (real or
generated in memory) or refuses it. pixiecore's Booter is the model.
"""

from __future__ import annotations

import io
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from bootsvc.safepath import OutsideRoot, resolve_within

# RFC 1350 error codes the server sends.
NOT_DEFINED = 0
FILE_NOT_FOUND = 1
ACCESS_VIOLATION = 2
ILLEGAL_OPERATION = 4
UNKNOWN_TID = 5
BAD_OPTION = 8


@dataclass(frozen=True)
class ReadRequest:
    filename: str
    ip: str
    port: int


@dataclass
class OpenedFile:
    """An open file the server sends and then closes; `mac` is the machine
    the name identifies, when it identifies one."""

    file: BinaryIO
    size: int
    mac: str | None = None


class Refused(Exception):
    """The request is answered with a TFTP ERROR of this code; the message
    goes to the client."""

    code = NOT_DEFINED


class FileMissing(Refused):
    code = FILE_NOT_FOUND


class AccessDenied(Refused):
    code = ACCESS_VIOLATION


class FileSource(Protocol):
    def open(self, request: ReadRequest) -> OpenedFile:
        """Called in a worker thread, so it may block (on a database, say).
        Raises Refused to answer with an ERROR."""
        ...


def open_file(path: Path, mac: str | None = None) -> OpenedFile:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    file = os.fdopen(fd, "rb")
    return OpenedFile(file, os.fstat(fd).st_size, mac)


def in_memory(data: bytes, mac: str | None = None) -> OpenedFile:
    return OpenedFile(io.BytesIO(data), len(data), mac)


class DirectorySource:
    """Files below one directory; nothing outside it, even through symlinks,
    but for the `trusted` names (see bootsvc.safepath)."""

    def __init__(self, root: Path, trusted: Collection[str] = ()) -> None:
        self.root = root
        self.trusted = frozenset(trusted)

    def open(self, request: ReadRequest) -> OpenedFile:
        try:
            return open_file(resolve_within(self.root, request.filename, self.trusted))

        except OutsideRoot:
            raise AccessDenied("outside the TFTP root") from None
        except FileNotFoundError:
            raise FileMissing("file not found") from None
