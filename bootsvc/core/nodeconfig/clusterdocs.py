"""Cluster documents: the texts a cluster's snapshot is parsed from, stored
in the database under the CMDB change stamp they were read at, so that a
process with nothing cached (a restarted worker, another boot server) reads
one row instead of building the texts from every member's rows again: at
1,000 members, a fraction of a millisecond against 2 (SQLite) to 6
(PostgreSQL).

The texts are exactly what the members' rows give, and the digest stored
is theirs, so a node's overlay is the same bytes either way. With them goes
the cluster's roster (inputs.Roster: every member's name, roles and
addresses). A cold render reads the roster and the rendered node's own
rows, in the same round trip, and leaves the members' texts compressed:
it parses neither the members' facts nor their interfaces, and on
PostgreSQL it receives 31 KB instead of 247 KB at 1,000 members.

A document is used only under the stamp it was stored with: any CMDB
change, anywhere, moves the stamp, and the first reader after it reads the
rows and stores the texts again. The store is written off the request path,
by one thread per process: a boot request never waits for a write lock, and
a failed write costs only the next reader's time."""

from __future__ import annotations

import functools
import logging
import os
import threading
import zlib
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, Table, and_, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bootsvc.core.nodeconfig import changes, inputs
from bootsvc.errors import NotFound
from bootsvc.logs import event
from bootsvc.store.db import Database
from bootsvc.store.models import ClusterDocument, Node

log = logging.getLogger("bootsvc.nodeconfig")

TABLE = cast(Table, ClusterDocument.__table__)
# The node by hostname, its cluster's id, and that cluster's document when
# one is stored under the label: one round trip for a cold process.
_LOOKUP = (
    select(
        Node.cluster_id,
        *inputs.NODE_TEXTS,
        TABLE.c.cluster,
        TABLE.c.networks,
        TABLE.c.roster,
        TABLE.c.digest,
        TABLE.c.members,
    )
    .select_from(Node)
    .outerjoin(
        TABLE, and_(TABLE.c.cluster_id == Node.cluster_id, TABLE.c.label == bindparam("label"))
    )
    .where(Node.hostname == bindparam("hostname"))
)
# Between the nodes' and the interfaces' texts in `members`: JSON text
# holds no raw NUL.
_SEPARATOR = b"\0"
# zlib's fastest level: the texts shrink to an eighth (the 1,000-node
# benchmark's 247 KB to 31 KB), which a cold reader then receives instead.
_COMPRESS_LEVEL = 1


def label(connection: Connection, stamp: changes.Stamp) -> str:
    return f"{inputs.statement_tag(connection.dialect)}.{changes.label(stamp)}"


class Stored(NamedTuple):
    """A document as a cold reader receives it."""

    cluster: str
    networks: str
    roster: str
    digest: str
    # The members' nodes and interfaces texts, compressed.
    members: bytes


class Lookup(NamedTuple):
    label: str
    cluster_id: int | None
    # The node's own texts (inputs.NODE_TEXTS).
    node: tuple[str, str]
    # Its cluster's document, when one is stored under the label.
    document: Stored | None


def lookup(connection: Connection, hostname: str, label: str) -> Lookup:
    """NotFound for an unknown node."""
    row = connection.execute(_LOOKUP, {"hostname": hostname, "label": label}).first()
    if row is None:
        raise NotFound(f"node {hostname!r} does not exist")
    cluster_id, nodes, interfaces, *stored = row
    document = None if stored[0] is None else Stored(*stored)
    return Lookup(label, cluster_id, (nodes, interfaces), document)


def _members(packed: bytes) -> tuple[str, str]:
    nodes, interfaces = zlib.decompress(packed).split(_SEPARATOR)
    return nodes.decode(), interfaces.decode()


def snapshot(cluster_id: int, stored: Stored) -> inputs.Snapshot:
    """The cluster as the document has it: its roster parsed, its members'
    texts left compressed until something needs more than the roster."""
    return inputs.Snapshot(
        inputs.cluster_info(cluster_id, stored.cluster, stored.networks),
        functools.partial(_members, stored.members),
        stored.digest,
        inputs.Roster.parse(stored.roster),
    )


class Document(NamedTuple):
    """A cluster read from its members' rows, to be stored for the next
    reader."""

    cluster_id: int
    label: str
    texts: tuple[str, ...]
    snapshot: inputs.Snapshot


class Row(NamedTuple):
    """A document to store: the four texts of inputs.CLUSTER_STATEMENT and
    the roster's text."""

    cluster_id: int
    label: str
    texts: tuple[str, ...]
    roster: str


def store(session: Session, row: Row) -> None:
    """Hashes and compresses the texts: in the writer thread, as hashlib
    and zlib let other threads run meanwhile."""
    cluster, networks, nodes, interfaces = row.texts
    values: dict[str, Any] = {
        "cluster_id": row.cluster_id,
        "label": row.label,
        "cluster": cluster,
        "networks": networks,
        "roster": row.roster,
        "digest": inputs.digest_of(row.texts),
        "members": zlib.compress(
            nodes.encode() + _SEPARATOR + interfaces.encode(), _COMPRESS_LEVEL
        ),
    }
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(TABLE).values(**values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["cluster_id"],
            set_={name: statement.excluded[name] for name in values if name != "cluster_id"},
        )
    )


class Keeper:
    """Stores documents from a thread of its own, which lives while there is
    something to store. Several misses of one cluster before the first is
    written leave one write, of the newest."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._pending: dict[int, Row] = {}
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def keep(self, document: Document) -> None:
        """Works out the roster here, in the reader's thread, once its render
        has worked out most of it: the writer thread then only waits on the
        database, and takes the GIL from requests as little as it can."""
        roster = document.snapshot.roster().text()
        with self._wake:
            self._pending[document.cluster_id] = Row(
                document.cluster_id, document.label, document.texts, roster
            )
            # A thread does not survive the fork of an HTTP worker: one
            # started before it is not this process's.
            if self._thread is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._run, name="cluster-documents", daemon=True
                )
                self._thread.start()

    def wait(self) -> None:
        """Until everything kept so far is written (or has failed)."""
        with self._wake:
            self._wake.wait_for(lambda: self._thread is None or self._pid != os.getpid())

    def _run(self) -> None:
        while True:
            with self._wake:
                if not self._pending:
                    self._thread = None
                    self._wake.notify_all()
                    return
                batch, self._pending = self._pending, {}
            self._write(batch)

    def _write(self, batch: dict[int, Row]) -> None:
        for cluster_id, row in batch.items():
            try:
                with self.db.write() as session:
                    store(session, row)
            # A cache write that fails must not end the thread.
            except Exception as exc:
                event(
                    log,
                    "config.cluster_document_not_stored",
                    level=logging.WARNING,
                    cluster_id=cluster_id,
                    error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                )
