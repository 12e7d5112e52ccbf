"""Reading what firmware says about a machine. SMBIOS fields are often
placeholders shared by many machines ("To Be Filled By O.E.M.", an all-zero
UUID in QEMU); those identify nobody and are dropped."""

from __future__ import annotations

import re

from bootsvc.core.boot.bootscript import Machine
from bootsvc.core.cmdb import names
from bootsvc.core.cmdb.records import refuse_unstorable
from bootsvc.errors import InvalidInput

_PLACEHOLDER_SERIALS = {
    "",
    "0",
    "none",
    "n/a",
    "na",
    "null",
    "not specified",
    "not available",
    "not applicable",
    "to be filled by o.e.m.",
    "default string",
    "system serial number",
    "chassis serial number",
    "0123456789",
    "123456789",
}
_PLACEHOLDER_UUIDS = {
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
}
_WORD = re.compile(r"[A-Za-z0-9_.-]{1,32}")


def _serial(value: str | None) -> str | None:
    text = (value or "").strip()[:128]
    return None if text.lower() in _PLACEHOLDER_SERIALS else text


def _uuid(value: str | None) -> str | None:
    try:
        parsed = names.smbios_uuid(value or "")
    except InvalidInput:
        return None
    return None if parsed in _PLACEHOLDER_UUIDS else parsed


def _word(value: str | None) -> str | None:
    return value if value and _WORD.fullmatch(value) else None


def machine_from_query(args: dict[str, str], client_ip: str | None) -> Machine:
    """Raises InvalidInput for a malformed MAC or a NUL: the rest is best effort."""
    refuse_unstorable(args, "query")
    raw_mac = args.get("mac", "").strip()
    return Machine(
        mac=names.mac(raw_mac) if raw_mac else None,
        ip=client_ip,
        uuid=_uuid(args.get("uuid")),
        serial=_serial(args.get("serial")),
        asset=_serial(args.get("asset")),
        arch=_word(args.get("arch")),
        platform=_word(args.get("platform")),
    )
