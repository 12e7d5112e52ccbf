"""The FleetLock protocol: reboot slots as a counting semaphore over HTTP,
as spoken by Fedora CoreOS's Zincati, Flatcar's locksmith and bootsvc's own
node agent, and served by airlock and by bootsvc.

    POST {base}/v1/pre-reboot      take a slot (recursive: a holder may ask again)
    POST {base}/v1/steady-state    give it back (succeeds if none is held)
    header  fleet-lock-protocol: true   (guards against a redirected request)
    body    {"client_params": {"id": "<client id>", "group": "<reboot group>"}}

200 means granted; any other status is a refusal, with a JSON body
{"kind": <short, bounded identifier>, "value": <text for a person>}.

This module knows the wire format only. Whether a client gets a slot is for
the `Locks` object it is given to decide.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

OPERATIONS = ("pre-reboot", "steady-state")
HEADER = "fleet-lock-protocol"
_GROUP = re.compile(r"[a-zA-Z0-9.-]{1,64}")
_MAX_ID = 255
_MAX_BODY = 4096


@dataclass(frozen=True)
class LockRequest:
    id: str
    group: str


@dataclass(frozen=True)
class Answer:
    status: int
    kind: str
    value: str

    def body(self) -> dict[str, str]:
        return {"kind": self.kind, "value": self.value}


class Locks(Protocol):
    def lock(self, client: LockRequest) -> Answer: ...

    def unlock(self, client: LockRequest) -> Answer: ...


def _bad(value: str) -> Answer:
    return Answer(400, "bad_request", value)


def parse(headers: Mapping[str, str], body: bytes) -> LockRequest | Answer:
    """The client, or the refusal of a malformed request."""
    if headers.get(HEADER, "").strip().lower() != "true":
        return Answer(400, "missing_protocol_header", f"a FleetLock request needs '{HEADER}: true'")
    if len(body) > _MAX_BODY:
        return _bad(f"the body is over {_MAX_BODY} bytes")
    try:
        data: Any = json.loads(body)
    except (ValueError, RecursionError):
        # RecursionError: arrays nested a thousand deep fit in the body.
        return _bad("the body is not JSON")
    params = data.get("client_params") if isinstance(data, dict) else None
    if not isinstance(params, dict):
        return _bad("the body needs a client_params object")
    client_id, group = params.get("id"), params.get("group")
    if not isinstance(client_id, str) or not client_id.strip() or len(client_id) > _MAX_ID:
        return _bad("client_params.id must be a non-empty string")
    if "\x00" in client_id:
        return _bad("client_params.id contains a NUL character")
    try:
        client_id.encode()
    except UnicodeEncodeError:
        # JSON's "\ud800" escape: a string no database column keeps.
        return _bad("client_params.id contains an unpaired UTF-16 surrogate")

    if not isinstance(group, str) or not _GROUP.fullmatch(group):
        return _bad("client_params.group must match ^[a-zA-Z0-9.-]+$")
    return LockRequest(client_id.strip(), group)


def handle(operation: str, headers: Mapping[str, str], body: bytes, locks: Locks) -> Answer:
    if operation not in OPERATIONS:
        return Answer(404, "unknown_operation", f"no FleetLock operation {operation!r}")
    client = parse(headers, body)
    if isinstance(client, Answer):
        return client
    return locks.lock(client) if operation == "pre-reboot" else locks.unlock(client)
