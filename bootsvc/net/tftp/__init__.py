"""TFTP: a read-only server on tftpy for first-stage loaders and iPXE scripts.
What a requested name means is decided by a FileSource handed to the server."""

from bootsvc.net.tftp.files import (
    AccessDenied,
    DirectorySource,
    FileMissing,
    FileSource,
    OpenedFile,
    ReadRequest,
    Refused,
    in_memory,
    open_file,
)
from bootsvc.net.tftp.server import TftpServer

__all__ = [
    "AccessDenied",
    "DirectorySource",
    "FileMissing",
    "FileSource",
    "OpenedFile",
    "ReadRequest",
    "Refused",
    "TftpServer",
    "in_memory",
    "open_file",
]
