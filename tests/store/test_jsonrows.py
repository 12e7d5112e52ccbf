"""Rows as JSON text built by SQLite and PostgreSQL read back as the ORM
reads them: JSON columns as JSON (not as strings), nulls, quotes and
non-ASCII text, in the statement's order."""

from __future__ import annotations

import json

from sqlalchemy import select

from bootsvc.store import jsonrows
from bootsvc.store.db import Database
from bootsvc.store.models import Interface, Node
from tests import factory

FACTS = {"rack": 'row "B" ✓', "addresses": {"ring": "10.30.0.9"}, "disks": [1, 2.5, None]}


def test_rows_read_back_as_the_orm_reads_them(db: Database) -> None:
    factory.node(db, hostname="zulu", serial="Z1", roles=["ceph-mon", "hypervisor"], facts=FACTS)
    factory.node(db, hostname="alpha", interfaces=[{"mac": "52:54:00:00:00:01", "vlan": 7}])
    statement = select(
        jsonrows.json_row(Node.hostname, Node.roles, Node.facts, Node.corosync_nodeid)
    ).order_by(Node.hostname)
    with db.read() as session:
        text = jsonrows.document(session.connection(), statement)
        orm = session.execute(
            select(Node.hostname, Node.roles, Node.facts, Node.corosync_nodeid).order_by(
                Node.hostname
            )
        ).all()
        interfaces = jsonrows.document(
            session.connection(),
            select(jsonrows.json_row(Interface.name, Interface.ip, Interface.vlan)),
        )
    assert json.loads(text) == [list(row) for row in orm]
    assert json.loads(text)[1][1:3] == [["ceph-mon", "hypervisor"], FACTS]
    assert json.loads(interfaces) == [["eth0", None, 7]]


def test_no_rows_is_an_empty_list(db: Database) -> None:
    with db.read() as session:
        text = jsonrows.document(session.connection(), select(jsonrows.json_row(Node.id)))
    assert json.loads(text) == []
