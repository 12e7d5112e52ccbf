"""The FleetLock wire format: what a request must carry, and the refusals."""

from __future__ import annotations

import json

import pytest

from bootsvc.net.fleetlock import Answer, LockRequest, handle, parse

HEADERS = {"fleet-lock-protocol": "true"}


def _body(client_id: object = "hv1", group: object = "default") -> bytes:
    return json.dumps({"client_params": {"id": client_id, "group": group}}).encode()


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, LockRequest]] = []

    def lock(self, client: LockRequest) -> Answer:
        self.calls.append(("lock", client))
        return Answer(200, "lock_granted", "ok")

    def unlock(self, client: LockRequest) -> Answer:
        self.calls.append(("unlock", client))
        return Answer(200, "unlock_done", "ok")


def test_operations_reach_the_locks() -> None:
    locks = Recorder()
    assert handle("pre-reboot", HEADERS, _body(), locks).status == 200
    assert handle("steady-state", {"fleet-lock-protocol": " True "}, _body(), locks).status == 200
    assert locks.calls == [
        ("lock", LockRequest("hv1", "default")),
        ("unlock", LockRequest("hv1", "default")),
    ]


@pytest.mark.parametrize(
    ("headers", "body", "kind", "says"),
    [
        ({}, _body(), "missing_protocol_header", "fleet-lock-protocol: true"),
        ({"fleet-lock-protocol": "false"}, _body(), "missing_protocol_header", "needs"),
        (HEADERS, b"{not json", "bad_request", "not JSON"),
        (HEADERS, b"\xff\xfe", "bad_request", "not JSON"),
        (HEADERS, b"[" * 4000, "bad_request", "not JSON"),
        (HEADERS, b"[]", "bad_request", "client_params"),
        (HEADERS, b'{"client_params": "x"}', "bad_request", "client_params"),
        (HEADERS, _body(client_id=""), "bad_request", "id must be"),
        (HEADERS, _body(client_id=7), "bad_request", "id must be"),
        (HEADERS, _body(client_id="a" * 256), "bad_request", "id must be"),
        (HEADERS, _body(client_id="a\x00b"), "bad_request", "NUL"),
        (
            HEADERS,
            b'{"client_params": {"id": "\\ud800", "group": "g"}}',
            "bad_request",
            "surrogate",
        ),
        (HEADERS, _body(group="no spaces"), "bad_request", "group must match"),
        (HEADERS, _body(group=""), "bad_request", "group must match"),
        (HEADERS, _body(group=None), "bad_request", "group must match"),
        (HEADERS, b" " * 5000, "bad_request", "over 4096 bytes"),
    ],
)
def test_malformed_requests_are_refused_before_the_locks(
    headers: dict[str, str], body: bytes, kind: str, says: str
) -> None:
    locks = Recorder()
    answer = handle("pre-reboot", headers, body, locks)
    assert (answer.status, answer.kind) == (400, kind)
    assert says in answer.value
    assert locks.calls == []
    assert isinstance(parse(headers, body), Answer)


def test_unknown_operation() -> None:
    answer = handle("reboot-now", HEADERS, _body(), Recorder())
    assert (answer.status, answer.kind) == (404, "unknown_operation")
    assert answer.body() == {"kind": "unknown_operation", "value": answer.value}
