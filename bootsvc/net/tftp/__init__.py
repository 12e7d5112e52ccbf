"""TFTP: a read-only server on tftpy for first-stage loaders and iPXE scripts.
What a requested name means is decided by a FileSource handed to the server."""

from bootsvc.net.tftp.files import (
    AccessDenied,
    DirectorySource,
    FileMissing,
    FileSource,
    ReadRequest,
    Refused,
    Served,
    in_memory,
    open_file,
)
from bootsvc.net.tftp.server import TftpServer

__all__ = [
    "AccessDenied",
    "DirectorySource",
    "FileMissing",
    "FileSource",
    "ReadRequest",
    "Refused",
    "Served",
    "TftpServer",
    "in_memory",
    "open_file",
]
