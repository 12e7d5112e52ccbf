"""Rows as JSON text built by SQLite and PostgreSQL read back as the ORM
reads them: JSON columns as JSON (not as strings), nulls, quotes and
non-ASCII text, a list per column in the statement's order, several
statements in one round trip, and no rows as empty lists."""

from __future__ import annotations

import json

from sqlalchemy import bindparam, select

from bootsvc.store import jsonrows
from bootsvc.store.db import Database
from bootsvc.store.models import Interface, Node
from tests.support import factory

FACTS = {"rack": 'row "B" ✓', "addresses": {"ring": "10.30.0.9"}, "disks": [1, 2.5, None]}

NODES = select(Node.hostname, Node.roles, Node.facts, Node.corosync_nodeid).order_by(
    Node.hostname.desc()
)
STATEMENT = jsonrows.columns(
    NODES.where(Node.hostname != bindparam("leave_out")),
    select(Interface.name, Interface.ip, Interface.vlan),
)


def test_columns_read_back_as_the_orm_reads_them(db: Database) -> None:
    factory.node(db, hostname="alpha", interfaces=[{"mac": "52:54:00:00:00:01", "vlan": 7}])
    factory.node(db, hostname="zulu", serial="Z1", roles=["ceph-mon", "hypervisor"], facts=FACTS)
    factory.node(db, hostname="mike", serial="M1")
    with db.read() as session:
        nodes, interfaces = jsonrows.texts(session.connection(), STATEMENT, leave_out="mike")
        orm = session.execute(NODES.where(Node.hostname != "mike")).all()
    assert json.loads(nodes) == [list(column) for column in zip(*orm, strict=True)]
    assert json.loads(nodes)[:3] == [
        ["zulu", "alpha"],
        [["ceph-mon", "hypervisor"], []],
        [FACTS, {}],
    ]
    assert json.loads(interfaces) == [["eth0"], [None], [7]]


def test_no_rows_are_empty_lists(db: Database) -> None:
    with db.read() as session:
        texts = jsonrows.texts(session.connection(), STATEMENT, leave_out="")
    assert [json.loads(text) for text in texts] == [[[], [], [], []], [[], [], []]]
