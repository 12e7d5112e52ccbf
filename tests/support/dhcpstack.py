"""Fixtures and helpers for the DHCP tests (a pytest plugin, loaded by
tests/conftest.py): the decision stack on a test database, a clock the test
moves, requests built as the server would build them, and a way to wait for
answers given through callbacks."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, TypeVar, Unpack

import pytest

from bootsvc.core.cmdb import cmdb
from bootsvc.core.cmdb.enlistment import Enlistment
from bootsvc.core.cmdb.records import ClusterRecord, NetworkRecord
from bootsvc.core.dhcp.authoritative import AuthoritativeResponder
from bootsvc.core.dhcp.book import LeaseBook, LeaseDone
from bootsvc.core.dhcp.directory import Directory
from bootsvc.core.dhcp.enlist import Enlister
from bootsvc.core.dhcp.leases import Lease
from bootsvc.core.dhcp.loaders import Loaders
from bootsvc.core.dhcp.writer import LeaseWriter
from bootsvc.net.dhcp import options as opt
from bootsvc.net.dhcp.classify import classify
from bootsvc.net.dhcp.codec import Packet
from bootsvc.net.dhcp.options import MessageType
from bootsvc.net.dhcp.responder import Reply, Request, Responder, Silence
from bootsvc.serve.dhcp import DhcpService
from bootsvc.serve.dhcp6 import Dhcp6Service
from bootsvc.settings import DhcpMode, Settings
from bootsvc.store.db import Database
from tests.support import nslab
from tests.support.clock import Clock

T = TypeVar("T")
SERVER_IP = "10.0.0.1"


def wait_for(start: Callable[[Callable[[T], None]], None], timeout: float = 10.0) -> T:
    """Call an API that answers through a callback, and wait for the answer."""
    done = threading.Event()
    box: list[T] = []

    def callback(value: T) -> None:
        box.append(value)
        done.set()

    start(callback)
    assert done.wait(timeout), "no answer"
    return box[0]


def dhcp_settings(data_dir: Path, db: Database, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": db.url,
        "advertise_url": "http://10.0.0.1:8080",
        "dhcp_mode": DhcpMode.AUTHORITATIVE,
        "dhcp_interface": "srv0",
        "dhcp_subnet": "10.0.0.0/24",
        "dhcp_pool": "10.0.0.100-10.0.0.109",
        "dhcp_router": "10.0.0.1",
        "dhcp_dns": "10.0.0.2,10.0.0.3",
        "dhcp_domain": "lab.test",
        "dhcp_lease_seconds": 600,
        "dhcp_offer_seconds": 30,
        "dhcp_decline_seconds": 300,
    }
    values.update(extra)
    return Settings(**values)


@dataclass
class Stack:
    settings: Settings
    clock: Clock
    writer: LeaseWriter
    book: LeaseBook
    directory: Directory
    enlister: Enlister
    responder: AuthoritativeResponder

    def ask(self, request: Request) -> Reply | Silence:
        return ask(self.responder, request)


def make_stack(db: Database, settings: Settings, clock: Clock) -> Stack:
    directory = Directory(db, settings)
    holder: list[LeaseWriter] = []
    enlister = Enlister(
        db,
        directory,
        wake=lambda: holder[0].nudge() if holder else None,
        busy=lambda within: bool(holder) and holder[0].busy(within),
        limits=Enlistment.from_settings(settings, per_address=False),
    )
    writer = LeaseWriter(db, clock, idle=enlister.step, server=f"test/{id(directory)}")
    holder.append(writer)
    book = LeaseBook(writer, settings.dhcp_offer_seconds, settings.dhcp_decline_seconds, clock)
    directory.refresh()
    book.sync(db, None)
    responder = AuthoritativeResponder(book, directory, Loaders.from_settings(settings), enlister)
    return Stack(settings, clock, writer, book, directory, enlister, responder)


class Records(logging.Handler):
    """The DHCP service's log lines: a count per event, and the latest
    records with their fields."""

    def __init__(self, keep: int = 5000) -> None:
        super().__init__(logging.DEBUG)
        self.records: deque[logging.LogRecord] = deque(maxlen=keep)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[record.getMessage()] += 1
        self.records.append(record)

    def events(self, name: str, **match: Any) -> list[dict[str, Any]]:
        found = []
        for record in list(self.records):
            fields: dict[str, Any] = getattr(record, "fields", {})
            if record.getMessage() == name and all(fields.get(k) == v for k, v in match.items()):
                found.append(fields)
        return found

    def wait(self, name: str, timeout: float = 20.0, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.events(name, **match)
            if found:
                return found[-1]
            time.sleep(0.05)
        raise AssertionError(f"no {name} {match} logged within {timeout} s")


@dataclass
class Lab:
    """A DHCP service in a namespace of its own (interface srv0, 10.77.0.1),
    and a client namespace on the other end of a veth (cli0)."""

    server: nslab.Namespace
    client: nslab.Namespace
    service: DhcpService
    log: Records


LAB_SETTINGS: dict[str, Any] = {
    "advertise_url": "http://10.77.0.1:8080",
    "dhcp_interface": "srv0",
    "dhcp_subnet": "10.77.0.0/24",
    "dhcp_pool": "10.77.0.100-10.77.0.199",
    "dhcp_router": "10.77.0.1",
    "dhcp_dns": "10.77.0.1",
    "dhcp_domain": "lab.test",
}


@contextmanager
def serving(
    namespace: nslab.Namespace, service: DhcpService | Dhcp6Service, logger_name: str
) -> Iterator[Records]:
    """`service` (a DHCP or DHCPv6 service) running in `namespace`, and the
    lines its logger writes meanwhile."""
    records = Records()
    logger = logging.getLogger(logger_name)
    logger.addHandler(records)
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    # Only to `records`: pytest need not keep (and format) every line.
    propagate, logger.propagate = logger.propagate, False
    stop = threading.Event()
    try:
        # Sockets in the namespace; database connections from the host's.
        service.load()
        namespace.call(service.server.open)
        thread = threading.Thread(target=service.run, args=(stop,), name=f"{service.name}-service")
        thread.start()
        try:
            yield records
        finally:
            stop.set()
            thread.join(30)
    finally:
        logger.removeHandler(records)
        logger.setLevel(previous)
        logger.propagate = propagate


@contextmanager
def service_in(
    namespace: nslab.Namespace, settings: Settings, db: Database
) -> Iterator[tuple[DhcpService, Records]]:
    """The DHCP service running in `namespace`, and its log lines."""
    service = DhcpService(settings, db)
    with serving(namespace, service, "bootsvc.dhcp") as records:
        yield service, records


@contextmanager
def running_service(settings: Settings, db: Database) -> Iterator[Lab]:
    with (
        nslab.server_and_client(prefix_length=24) as (server, client),
        service_in(server, settings, db) as (service, records),
    ):
        yield Lab(server, client, service, records)


@pytest.fixture
def dhcp_lab(db: Database, data_dir: Path) -> Iterator[Lab]:
    """Authoritative DHCP on the lab's server side."""
    settings = Settings(
        data_dir=data_dir,
        database_url=db.url,
        dhcp_mode=DhcpMode.AUTHORITATIVE,
        dhcp_lease_seconds=10,
        **LAB_SETTINGS,
    )
    with running_service(settings, db) as lab:
        yield lab


@pytest.fixture
def dhcp_clock() -> Clock:
    return Clock()


@pytest.fixture
def dhcp_stack(db: Database, data_dir: Path, dhcp_clock: Clock) -> Iterator[Stack]:
    built = make_stack(db, dhcp_settings(data_dir, db), dhcp_clock)
    yield built
    built.writer.stop()


class Options(TypedDict, total=False):
    """Request options by name, for `request`."""

    requested: bytes
    server: bytes
    arch: bytes
    vendor: bytes
    user: bytes
    uuid: bytes
    hostname: bytes


def request(
    kind: MessageType,
    mac: str = "02:00:00:00:00:01",
    port: int = 67,
    ciaddr: str = "0.0.0.0",
    giaddr: str = "0.0.0.0",
    server_ip: str = SERVER_IP,
    **options: Unpack[Options],
) -> Request:
    """A request as the server would hand it over."""
    codes = {
        "requested": opt.REQUESTED_IP,
        "server": opt.SERVER_ID,
        "arch": opt.CLIENT_ARCH,
        "vendor": opt.VENDOR_CLASS,
        "user": opt.USER_CLASS,
        "uuid": opt.CLIENT_UUID,
        "hostname": opt.HOSTNAME,
    }
    packet = Packet(
        op=1,
        xid=0x1234,
        chaddr=bytes.fromhex(mac.replace(":", "")) + bytes(10),
        ciaddr=ciaddr,
        giaddr=giaddr,
        options={
            opt.MESSAGE_TYPE: bytes((kind,)),
            **{codes[k]: v for k, v in options.items() if isinstance(v, bytes)},
        },
    )
    return Request(packet, kind, classify(packet), port, server_ip, ("0.0.0.0", 68))


def add_cluster_network(db: Database, cidr: str, gateway: str, pool: str) -> None:
    """Cluster c1 (domain c1.lab.test) with network `net` and its pool."""
    record = ClusterRecord(
        name="c1",
        domain="c1.lab.test",
        networks=[NetworkRecord(name="net", cidr=cidr, gateway=gateway)],
        settings={"dhcp_pools": {"net": pool}},
    )
    with db.write() as session:
        cmdb.upsert_cluster(session, record, "test")


def settle(start: Callable[[LeaseDone], None]) -> Lease | Exception | None:
    """Wait for a lease book call (bind, release, decline)."""
    return wait_for(start)


def ask(responder: Responder, asked: Request) -> Reply | Silence:
    def start(callback: Callable[[Reply | Silence], None]) -> None:
        responder.answer(asked, callback)

    return wait_for(start)
