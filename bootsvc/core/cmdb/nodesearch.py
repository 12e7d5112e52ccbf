"""The node list of the admin pages: one page of nodes matching a search
over hostname, MAC, IP, serial and role, and filters. A count and a page of
rows, each an indexed query, so a page costs the same at 10,000 nodes as at
ten."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, String, cast, func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from bootsvc.store.models import Cluster, Interface, Node

PAGE_SIZE = 50

RowT = TypeVar("RowT", bound=Any)


@dataclass(frozen=True)
class NodeSearch:
    """What the admin typed: `text` matches part of a hostname, MAC, IP or
    serial, or a whole role; the others are exact filters."""

    text: str = ""
    cluster: str = ""
    state: str = ""
    role: str = ""


@dataclass(frozen=True)
class NodePage:
    nodes: list[Node]
    total: int
    page: int
    pages: int


def _role_pattern(role: str) -> str:
    # Roles are a JSON list; both databases print its strings quoted.
    return '%"' + role.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + '"%'


def _where(query: Select[RowT], search: NodeSearch) -> Select[RowT]:
    roles = cast(Node.roles, String)
    text = search.text.strip().lower()
    if text:
        mac = text.replace("-", ":")
        by_interface = select(Interface.node_id).where(
            or_(
                Interface.mac.contains(mac, autoescape=True),
                Interface.ip.startswith(text, autoescape=True),
            )
        )
        query = query.where(
            or_(
                Node.hostname.contains(text, autoescape=True),
                func.lower(Node.serial).contains(text, autoescape=True),
                Node.id.in_(by_interface),
                roles.like(_role_pattern(text), escape="\\"),
            )
        )
    if search.cluster:
        query = query.where(
            Node.cluster_id.in_(select(Cluster.id).where(Cluster.name == search.cluster))
        )
    if search.state:
        query = query.where(Node.state == search.state)
    if search.role:
        query = query.where(roles.like(_role_pattern(search.role), escape="\\"))
    return query


def search(session: Session, wanted: NodeSearch, page: int, per_page: int = PAGE_SIZE) -> NodePage:
    total: int = session.scalar(_where(select(func.count(Node.id)), wanted)) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    ids = list(
        session.scalars(
            _where(select(Node.id), wanted)
            .order_by(Node.hostname)
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    nodes = list(
        session.scalars(
            select(Node)
            .where(Node.id.in_(ids))
            .options(selectinload(Node.interfaces), joinedload(Node.cluster))
            .order_by(Node.hostname)
        )
    )
    return NodePage(nodes, total, page, pages)
