from __future__ import annotations

import pytest

from bootsvc.net.tftp import options


@pytest.mark.parametrize(
    ("asked", "mtu", "oack"),
    [
        ({"blksize": "1468", "tsize": "0"}, 1500, {"blksize": "1468", "tsize": "1000"}),
        ({"BLKSIZE": "1456"}, 1500, {"blksize": "1456"}),
        ({"blksize": "1432"}, None, {"blksize": "1432"}),
        ({"blksize": "9000"}, 1500, {"blksize": "1468"}),  # capped to fit the link
        ({"blksize": "70000"}, 65536, {"blksize": "65464"}),
        ({"windowsize": "4", "timeout": "1"}, 1500, {}),  # not negotiated
        ({"tsize": "0", "windowsize": "4"}, 1500, {"tsize": "1000"}),
    ],
)
def test_accepted_options(asked: dict[str, str], mtu: int | None, oack: dict[str, str]) -> None:
    assert options.accept(options.parse(asked), 1000, mtu) == oack


@pytest.mark.parametrize(
    "asked",
    [
        {"blksize": "-1468"},
        {"blksize": "7"},
        {"blksize": "1e3"},
        {"blksize": "١٤٦٨"},  # Arabic-Indic digits: isdigit() but not ASCII
        {"tsize": ""},
    ],
)
def test_bad_values_are_refused(asked: dict[str, str]) -> None:
    with pytest.raises(options.BadOption):
        options.parse(asked)
