"""Numbers written in ASCII digits, from untrusted text: a URL, a DHCP
option, a setting. str.isdigit() alone accepts characters int() refuses
('³', other scripts' superscripts), which turned a bad request into an
uncaught ValueError; and a long enough run of digits overflows a database
integer."""

from __future__ import annotations

# Up to 10**18 - 1: fits a signed 64-bit integer (SQLite's, PostgreSQL's
# bigint).
MAX_DIGITS = 18


def number(text: str, max_digits: int = MAX_DIGITS) -> int | None:
    """The number `text` spells, or None when it is anything else."""
    if not text.isascii() or not text.isdigit() or len(text) > max_digits:
        return None
    return int(text)
