"""Numbers from untrusted text: ASCII digits only, and not so many that
they overflow a database integer."""

from __future__ import annotations

import pytest

from bootsvc import digits


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("0042", 42),
        ("9" * 18, 10**18 - 1),
        ("9" * 19, None),
        ("", None),
        ("-1", None),
        ("+1", None),
        (" 1", None),
        ("1.0", None),
        ("³", None),
        ("١٢", None),
        ("1²", None),
    ],
)
def test_number(text: str, expected: int | None) -> None:
    assert digits.number(text) == expected


def test_a_shorter_limit() -> None:
    assert digits.number("12345", max_digits=5) == 12345
    assert digits.number("123456", max_digits=5) is None
