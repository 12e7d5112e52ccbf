"""One line per event, as logfmt (key=value), so that an operator can grep one
machine's MAC through DHCP, TFTP, HTTP and its boot report.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import IO, Any

_BARE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/@,+[]")


# Every control character (C0, DEL, C1) and the Unicode line separators,
# escaped: a value from a URL or a packet can neither forge a second line nor
# hide bytes from the one reading the log.
_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))} | {
    ord("\\"): "\\\\",
    ord('"'): '\\"',
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def _quote(value: Any) -> str:
    text = "" if value is None else str(value)
    if text and _BARE.issuperset(text):
        return text
    return f'"{text.translate(_ESCAPES)}"'


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        parts = [
            f"ts={stamp}.{int(record.msecs):03d}Z",
            f"level={record.levelname.lower()}",
            f"svc={record.name.removeprefix('bootsvc.')}",
            f"event={_quote(record.getMessage())}",
        ]
        fields: dict[str, Any] = getattr(record, "fields", {})
        parts.extend(f"{key}={_quote(value)}" for key, value in fields.items())
        if record.exc_info:
            exc = record.exc_info[1]
            parts.append(f"error={_quote(f'{type(exc).__name__}: {exc}')}")
        return " ".join(parts)


def event(logger: logging.Logger, name: str, /, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event; fields whose value is None are left out."""
    if logger.isEnabledFor(level):
        kept = {key: value for key, value in fields.items() if value is not None}
        logger.log(level, name, extra={"fields": kept})


def setup_logging(level: str = "info", stream: IO[str] | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(LogfmtFormatter())
    root = logging.getLogger("bootsvc")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
