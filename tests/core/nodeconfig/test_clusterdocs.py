"""Cluster documents: a process with nothing cached reads its cluster from
the stored document, not from the members' rows, and gets the very bytes a
read of the rows gives; a CMDB change anywhere retires every document; a
document that cannot be stored is logged and costs the next reader only."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import event, select, update

from bootsvc.core.cmdb import cmdb
from bootsvc.core.cmdb.records import NodeRecord
from bootsvc.core.nodeconfig import changes, clusterdocs, inputs
from bootsvc.core.nodeconfig.overlay import Overlays
from bootsvc.core.nodeconfig.templating import Templates
from bootsvc.errors import NotFound
from bootsvc.store.db import Database
from bootsvc.store.models import Cluster, ClusterDocument
from tests.core.nodeconfig.render import BOOT
from tests.core.nodeconfig.test_overlay import files_of
from tests.support import factory, nodeclusters


class Statements:
    """The SQL a block sends."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.sent: list[str] = []

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.sent.append(statement)

    def __enter__(self) -> Statements:
        event.listen(self.db.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.db.engine, "before_cursor_execute", self._seen)

    def read_members(self) -> bool:
        """Read the cluster from its members' rows (the statement that also
        reads its networks)."""
        return any("FROM cluster_network" in statement for statement in self.sent)


def _documents(db: Database) -> list[tuple[int, str]]:
    with db.read() as session:
        rows = session.execute(select(ClusterDocument.cluster_id, ClusterDocument.label))
        return [(row.cluster_id, row.label) for row in rows]


def _fresh(db: Database, keeper: clusterdocs.Keeper) -> Overlays:
    return Overlays(db, Templates(None), documents=keeper)


def _count_parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many members each parse of members' texts held."""
    counts: list[int] = []
    parse = inputs._Columns.parse

    def counted(nodes: str, interfaces: str) -> Any:
        columns = parse(nodes, interfaces)
        counts.append(len(columns.hostnames))
        return columns

    monkeypatch.setattr(inputs._Columns, "parse", counted)
    return counts


def test_a_cold_process_reads_the_stored_document(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    nodeclusters.three_node_cluster(db)
    nodeclusters.two_node_cluster(db)
    keeper = clusterdocs.Keeper(db)
    with Statements(db) as first:
        built = _fresh(db, keeper).get("hv1", BOOT)
    assert first.read_members()
    keeper.wait()
    stored = _documents(db)
    assert len(stored) == 1
    # Another process, nothing cached: one row, no member rows, same bytes;
    # and of the members' texts only the rendered node's own are parsed.
    parsed = _count_parses(monkeypatch)
    with Statements(db) as second:
        again = _fresh(db, keeper).get("hv2", BOOT)
        same = _fresh(db, keeper).get("hv1", BOOT)
    assert not second.read_members()
    assert parsed == [1, 1]
    assert same.archive == built.archive and again.archive != built.archive
    assert _documents(db) == stored


def test_a_change_retires_every_document(db: Database) -> None:
    nodeclusters.three_node_cluster(db)
    nodeclusters.two_node_cluster(db)
    keeper = clusterdocs.Keeper(db)
    _fresh(db, keeper).get("hv1", BOOT)
    _fresh(db, keeper).get("pair1", BOOT)
    keeper.wait()
    before = dict(_documents(db))
    assert len(before) == 2
    with db.write() as session:
        record = NodeRecord.model_validate(
            {"interfaces": [{"name": "eth0", "mac": "52:54:00:c0:00:33", "ip": "10.0.0.99"}]}
        )
        cmdb.patch_node(session, "hv3", record, factory.ACTOR)
    with Statements(db) as after:
        hosts = files_of(_fresh(db, keeper), "hv1")["/etc/hosts"]
    assert after.read_members()
    assert b"10.0.0.99\thv3." in hosts
    keeper.wait()
    now = dict(_documents(db))
    # hv1's cluster is stored again under the new stamp; the pair keeps its
    # old document, which no reader will use, until it is read again.
    lab, pair = _cluster_id(db, "lab"), _cluster_id(db, "pair")
    assert now[lab] != before[lab] and now[pair] == before[pair]


def _cluster_id(db: Database, name: str) -> int:
    with db.read() as session:
        found: int = session.scalars(select(Cluster.id).where(Cluster.name == name)).one()
        return found


def test_a_document_under_another_label_is_never_read(db: Database) -> None:
    """A document left by another stamp (or another bootsvc's statement)
    holds texts this reader must not take, however they look."""
    nodeclusters.three_node_cluster(db)
    keeper = clusterdocs.Keeper(db)
    built = _fresh(db, keeper).get("hv1", BOOT)
    keeper.wait()
    with db.write() as session:
        session.execute(
            update(ClusterDocument).values(
                label="other", members=b"", roster="[[], [], [], [], {}]", digest="0"
            )
        )
    assert _fresh(db, keeper).get("hv1", BOOT).archive == built.archive


def test_a_document_that_cannot_be_stored_is_logged(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    nodeclusters.three_node_cluster(db)
    keeper = clusterdocs.Keeper(db)
    lab = _cluster_id(db, "lab")
    with caplog.at_level(logging.WARNING, "bootsvc.nodeconfig"):
        snapshot = inputs.single_snapshot(("[[], [], [], [], [], []]", "[[], [], [], [], []]"))
        texts = ("[]", "[]", "[]", "[]")
        keeper.keep(clusterdocs.Document(lab + 1000, "x", texts, snapshot))
        keeper.wait()
    assert [r.getMessage() for r in caplog.records] == ["config.cluster_document_not_stored"]
    assert caplog.records[0].__dict__["fields"]["cluster_id"] == lab + 1000
    # The thread goes on.
    _fresh(db, keeper).get("hv1", BOOT)
    keeper.wait()
    assert [cluster for cluster, _label in _documents(db)] == [lab]


def test_the_lookup_finds_the_node_and_its_document(db: Database) -> None:
    """One statement: the node's own rows, its cluster, and the cluster's
    document with the roster its rows give, when one is stored under the
    label asked for."""
    nodeclusters.three_node_cluster(db)
    factory.node(db, hostname="loner", interfaces=[{"mac": "52:54:00:00:09:01"}])
    keeper = clusterdocs.Keeper(db)
    with db.read() as session:
        label = clusterdocs.label(session.connection(), changes.stamp(session.connection()))
        with pytest.raises(NotFound, match="'nobody'"):
            clusterdocs.lookup(session.connection(), "nobody", label)
        loner = clusterdocs.lookup(session.connection(), "loner", label)
        before = clusterdocs.lookup(session.connection(), "hv2", label)
    assert loner.cluster_id is None and loner.document is None
    assert inputs.single_snapshot(loner.node).hostnames == ["loner"]
    assert before.cluster_id == _cluster_id(db, "lab") and before.document is None
    _fresh(db, keeper).get("hv1", BOOT)
    keeper.wait()
    with db.read() as session:
        found = clusterdocs.lookup(session.connection(), "hv2", label)
        other = clusterdocs.lookup(session.connection(), "hv2", label + "x")
        rows = inputs.load(session, "hv2")
    assert other.document is None
    # The document gives what the rows give: digest, roster and members,
    # the members' texts parsed only when asked for.
    assert found.document is not None and found.cluster_id is not None
    stored = clusterdocs.snapshot(found.cluster_id, found.document)
    assert stored.digest == rows.digest and stored.cluster == rows.cluster
    assert stored.roster() == rows.roster()
    assert "_columns" not in stored.__dict__
    assert [(m.hostname, m.facts, m.interfaces) for m in stored.members] == [
        (m.hostname, m.facts, m.interfaces) for m in rows.members
    ]
    own = inputs.single_snapshot(found.node).member("hv2")
    from_rows = rows.member("hv2")
    assert own is not None and from_rows is not None
    assert (own.id, own.facts, own.interfaces) == (
        from_rows.id,
        from_rows.facts,
        from_rows.interfaces,
    )
