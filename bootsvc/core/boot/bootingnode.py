"""The node a script is made for: the columns of its row and its cluster's
that the script reads, by one prebuilt query and without the ORM, whose
loading of a node and its cluster cost more than the query did."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, select

from bootsvc.store.models import Cluster, Interface, Node


@dataclass(frozen=True)
class BootingNode:
    id: int
    hostname: str
    state: str
    cluster_id: int | None
    image_id: int | None
    channel: str | None
    pinned_version_id: int | None
    roles: list[str]
    facts: dict[str, Any]
    disks: str
    reset_id: int | None
    cluster_name: str | None
    cluster_settings: dict[str, Any] | None


_COLUMNS = select(
    Node.id,
    Node.hostname,
    Node.state,
    Node.cluster_id,
    Node.image_id,
    Node.channel,
    Node.pinned_version_id,
    Node.roles,
    Node.facts,
    Node.disks,
    Node.reset_id,
    Cluster.name,
    Cluster.settings,
).outerjoin(Cluster, Cluster.id == Node.cluster_id)
# Built once each: every script asks one or more of them.
_BY_MAC = _COLUMNS.join(Interface, Interface.node_id == Node.id).where(
    Interface.mac == bindparam("value")
)
_BY_UUID = _COLUMNS.where(Node.uuid == bindparam("value"))
_BY_SERIAL = _COLUMNS.where(Node.serial == bindparam("value"))


def identify(
    connection: Connection, mac: str | None, uuid: str | None, serial: str | None
) -> BootingNode | None:
    """The node with this MAC; else with this SMBIOS UUID; else this serial."""
    for query, value in ((_BY_MAC, mac), (_BY_UUID, uuid), (_BY_SERIAL, serial)):
        if value:
            row = connection.execute(query, {"value": value}).first()
            if row is not None:
                return BootingNode(*row)
    return None
