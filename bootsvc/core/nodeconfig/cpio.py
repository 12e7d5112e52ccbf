"""Node files as an initrd: a gzip-compressed newc cpio, every file under
/bootsvc/root/, which the image's overlay hook copies into the final root
before switch_root (see images/common/bootsvc-overlay).

Written here rather than through libarchive: the format is one fixed
110-byte header per entry, and the output must be byte-for-byte the same for
the same files (no times, no inode numbers from the host), so that a node's
overlay has one digest whatever server builds it.
"""

from __future__ import annotations

import gzip
import stat
from collections.abc import Iterable

from bootsvc.core.nodeconfig.files import NodeFile

PREFIX = "bootsvc/root"
# Directories are created with these modes; the hook's `cp -a` gives them to
# the directories of the final root too, so they must be what those have.
DIRECTORY_MODES = {"/root": 0o700, "/root/.ssh": 0o700}
TRAILER = "TRAILER!!!"


def _entry(name: str, mode: int, uid: int, gid: int, nlink: int, data: bytes, ino: int) -> bytes:
    encoded = name.encode() + b"\0"
    fields = (ino, mode, uid, gid, nlink, 0, len(data), 0, 0, 0, 0, len(encoded), 0)
    header = b"070701" + b"".join(b"%08X" % value for value in fields)
    head = header + encoded
    head += b"\0" * (-len(head) % 4)
    return head + data + b"\0" * (-len(data) % 4)


def _directories(files: list[NodeFile]) -> list[str]:
    """Every parent directory, each once, parents before children. (By
    string: PurePosixPath.parents took a third of the packing.)"""
    found: set[str] = set()
    for file in files:
        parent = file.path.rpartition("/")[0]
        while parent and parent not in found:
            found.add(parent)
            parent = parent.rpartition("/")[0]
    return sorted(found, key=lambda path: (path.count("/"), path))


def pack(files: Iterable[NodeFile], prefix: str = PREFIX) -> bytes:
    """The uncompressed newc archive."""
    ordered = sorted(files, key=lambda file: file.path)
    parts = prefix.split("/")
    directories = [("/".join(parts[: i + 1]), 0o755) for i in range(len(parts))]
    directories += [
        (prefix + path, DIRECTORY_MODES.get(path, 0o755)) for path in _directories(ordered)
    ]
    chunks = []
    ino = 0
    for name, mode in directories:
        ino += 1
        chunks.append(_entry(name, stat.S_IFDIR | mode, 0, 0, 2, b"", ino))
    for file in ordered:
        ino += 1
        uid, gid = file.owner
        if file.link is not None:
            kind, data = stat.S_IFLNK | 0o777, file.link.encode()
        else:
            kind, data = stat.S_IFREG | file.mode, file.content
        chunks.append(_entry(prefix + file.path, kind, uid, gid, 1, data, ino))
    chunks.append(_entry(TRAILER, 0, 0, 0, 1, b"", 0))
    return b"".join(chunks)


# Level 2: about the size of higher levels in a third of the time, on the
# overlays of large clusters (docs/benchmarks.md, overlay compression).
COMPRESS_LEVEL = 2


def pack_gz(files: Iterable[NodeFile], prefix: str = PREFIX) -> bytes:
    return gzip.compress(pack(files, prefix), compresslevel=COMPRESS_LEVEL, mtime=0)


def unpack(archive: bytes, prefix: str = PREFIX) -> list[NodeFile]:
    """The files of an archive made by pack_gz (directories left out), for
    comparing what a node was served with what it would get now."""
    data = gzip.decompress(archive)
    found: list[NodeFile] = []
    offset = 0
    while True:
        header = data[offset : offset + 110]
        if header[:6] != b"070701":
            raise ValueError(f"not a newc archive at offset {offset}")
        fields = [int(header[6 + 8 * i : 14 + 8 * i], 16) for i in range(13)]
        mode, uid, gid, size, namesize = fields[1], fields[2], fields[3], fields[6], fields[11]
        start = offset + 110
        name = data[start : start + namesize - 1].decode()
        body = start + namesize + (-(110 + namesize) % 4)
        content = data[body : body + size]
        offset = body + size + (-size % 4)
        if name == TRAILER:
            return found
        path = name.removeprefix(prefix)
        if stat.S_ISLNK(mode):
            found.append(NodeFile(path, 0o777, (uid, gid), link=content.decode()))
        elif stat.S_ISREG(mode):
            found.append(NodeFile(path, stat.S_IMODE(mode), (uid, gid), content))
