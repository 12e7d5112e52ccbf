"""Response bodies from files without copying them through Python: the body
goes to the server's wsgi.file_wrapper, which gunicorn turns into
os.sendfile. Artifacts and iPXE loaders are sent this way."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import IO, Any, cast

from flask import Response, request
from werkzeug.wsgi import wrap_file

BLOCK = 1 << 20


class FileSlice(io.RawIOBase):
    """`length` bytes of a file from `start`. The descriptor is left at
    `start`, where sendfile begins; read() stops at the end of the slice for
    servers that copy instead."""

    def __init__(self, path: str, start: int, length: int) -> None:
        super().__init__()
        self._fd = os.open(path, os.O_RDONLY)
        os.lseek(self._fd, start, os.SEEK_SET)
        self._left = length

    def fileno(self) -> int:
        return self._fd

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """socket.sendfile leaves the file at the end of what it sent."""
        return os.lseek(self._fd, offset, whence)

    def tell(self) -> int:
        return os.lseek(self._fd, 0, os.SEEK_CUR)

    def readinto(self, buffer: Any) -> int:
        if self._left <= 0:
            return 0
        view = memoryview(buffer)[: min(len(buffer), self._left)]
        count = os.readv(self._fd, [view])
        self._left -= count
        return count

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


def send_slice(
    path: Path, start: int, length: int, status: int, headers: dict[str, str]
) -> Response:
    """`length` bytes of `path` from `start` as the response body."""
    # The server's file wrapper closes the slice when the response is done.
    piece = cast("IO[bytes]", FileSlice(str(path), start, length))
    body = wrap_file(request.environ, piece, BLOCK)
    return Response(body, status=status, headers=headers, direct_passthrough=True)
