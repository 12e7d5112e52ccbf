"""/healthz says the process answers; /readyz says whether the database,
the artifact store and every other enabled service are usable, with 503 and
the failing check named when one is not."""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from bootsvc.settings import Settings
from bootsvc.store.db import Database
from bootsvc.web.app import create_app


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.json) == (200, {"status": "alive"})


def test_ready_with_database_and_store(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {
        "status": "ready",
        "checks": {"database": "ok", "artifact_store": "ok", "secrets_key": "ok", "http": "ok"},
    }


def unready_checks(settings: Settings, url: str) -> dict[str, str]:
    """The checks /readyz reports when the database is the one at `url`."""
    database = Database(url)
    try:
        response = create_app(settings, database).test_client().get("/readyz")
    finally:
        database.dispose()
    assert response.status_code == 503
    assert response.json is not None
    assert response.json["status"] == "not-ready"
    checks: dict[str, str] = response.json["checks"]
    return checks


def test_not_ready_without_database(settings: Settings, db: Database, tmp_path: Path) -> None:
    if db.url.startswith("sqlite"):
        # A directory where the database file should be.
        unreachable = f"sqlite:///{tmp_path}"
    else:
        unreachable = "postgresql+psycopg://bootsvc:bootsvc@127.0.0.1:1/bootsvc?connect_timeout=2"
    checks = unready_checks(settings, unreachable)
    assert checks["database"].startswith("unreachable")
    assert checks["artifact_store"] == "ok"


def test_not_ready_before_db_upgrade(settings: Settings, tmp_path: Path) -> None:
    checks = unready_checks(settings, f"sqlite:///{tmp_path / 'empty.db'}")
    assert checks["database"].startswith("schema empty, needs ")


def test_not_ready_when_store_cannot_be_written(client: FlaskClient, data_dir: Path) -> None:
    shutil.rmtree(data_dir / "tmp")
    (data_dir / "tmp").write_text("a file where the store's directory should be")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json is not None
    assert response.json["checks"]["database"] == "ok"
    assert response.json["checks"]["artifact_store"] != "ok"


@pytest.fixture
def udp_port() -> Iterator[socket.socket]:
    """A UDP port nothing answers on until the test says so."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock


def _answer(sock: socket.socket) -> threading.Thread:
    """Answer every request with a TFTP ERROR until none comes for a second
    (the first may be the unanswered probe's, whose sender is gone)."""

    def answer() -> None:
        sock.settimeout(1)
        try:
            while True:
                _data, peer = sock.recvfrom(2048)
                sock.sendto(b"\x00\x05\x00\x01not found\x00", peer)
        except TimeoutError:
            return

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return thread


def test_ready_only_when_tftp_answers(
    settings: Settings, db: Database, udp_port: socket.socket
) -> None:
    port = udp_port.getsockname()[1]
    with_tftp = settings.model_copy(update={"tftp_listen": f"127.0.0.1:{port}"})
    client = create_app(with_tftp, db).test_client()
    silent = client.get("/readyz")
    assert silent.status_code == 503
    assert silent.json is not None
    assert silent.json["checks"]["tftp"] == f"no TFTP answer from 127.0.0.1:{port}"
    responder = _answer(udp_port)
    answered = client.get("/readyz")
    responder.join(5)
    assert answered.status_code == 200
    assert answered.json is not None
    assert answered.json["checks"]["tftp"] == "ok"
