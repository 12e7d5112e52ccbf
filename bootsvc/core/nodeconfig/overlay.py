"""A node's public files, rendered and packed on request and cached by a
digest of their inputs: the cluster snapshot, the node, how it boots, and
the templates. Nothing is written ahead of time, for any node.

Asking costs one indexed query (has the CMDB changed?) and, at most once a
second, a stat of the template files; when neither moved, the cached
overlay is the answer. When something did, the node's cluster is read again
once per process (from its stored document, with the node's own rows, when
another process has already read it since the change: bootsvc.core.
nodeconfig.clusterdocs) and the node's input digest recomputed: a change
elsewhere (another cluster, a field templates do not see) still ends in a
cache hit. Overlays that fail to render are cached too, as their error.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from bootsvc.core.nodeconfig import changes, clusterdocs, cpio, files, inputs
from bootsvc.core.nodeconfig.context import BootInfo, NodeContext, agent_values
from bootsvc.core.nodeconfig.problems import ConfigError
from bootsvc.core.nodeconfig.templating import Stamp, Templates
from bootsvc.store.db import Database
from bootsvc.store.kept import KeptConnections

CACHE_ENTRIES = 2048


# Template edits are noticed within this long; the CMDB is checked on every
# request.
TEMPLATE_CHECK_S = 1.0


@dataclass(frozen=True)
class Overlay:
    hostname: str
    node_id: int
    digest: str
    archive: bytes
    sha256: str


def input_digest(
    snapshot: inputs.Snapshot,
    hostname: str,
    boot: BootInfo,
    stamp: Stamp,
    agent: Mapping[str, Any],
) -> str:
    text = repr((snapshot.digest, hostname, boot, stamp.files, sorted(agent.items())))
    return hashlib.sha256(text.encode()).hexdigest()


def build(
    templates: Templates,
    snapshot: inputs.Snapshot,
    hostname: str,
    boot: BootInfo,
    digest: str,
    agent: Mapping[str, Any],
) -> Overlay:
    ctx = NodeContext(snapshot, hostname, boot, agent)
    archive = cpio.pack_gz(files.public(templates, ctx))
    return Overlay(hostname, ctx.node.id, digest, archive, hashlib.sha256(archive).hexdigest())


@dataclass
class _Entry:
    stamp: tuple[Any, Stamp]
    digest: str
    outcome: Overlay | ConfigError

    def result(self) -> Overlay:
        if isinstance(self.outcome, ConfigError):
            raise self.outcome
        return self.outcome


class Overlays:
    """The overlay cache of one process, shared by its threads."""

    def __init__(
        self,
        db: Database,
        templates: Templates,
        entries: int = CACHE_ENTRIES,
        template_check_s: float = TEMPLATE_CHECK_S,
        agent: Mapping[str, Any] | None = None,
        documents: clusterdocs.Keeper | None = None,
    ) -> None:
        self.db = db
        self.templates = templates
        self.agent = agent if agent is not None else agent_values()
        self.entries = entries
        self.template_check_s = template_check_s
        self.documents = documents if documents is not None else clusterdocs.Keeper(db)
        self._readers = KeptConnections(db)
        self.hits = 0
        self.builds = 0
        self._lock = threading.Lock()
        self._stamp: tuple[Any, Stamp] | None = None
        self._cache: OrderedDict[tuple[str, BootInfo], _Entry] = OrderedDict()
        self._snapshots: dict[Any, inputs.Snapshot] = {}
        self._where: dict[str, Any] = {}

    def _read_cluster(
        self, cluster_id: int, found: clusterdocs.Lookup, hostname: str, reading: Connection
    ) -> tuple[inputs.Snapshot, clusterdocs.Document | None]:
        """From its document when one is stored under the label, with the
        node's own rows; otherwise from its members' rows, with the document
        to store for the next reader."""
        if found.document is not None:
            snapshot = clusterdocs.snapshot(cluster_id, found.document)
            member = inputs.single_snapshot(found.node).member(hostname)
            if member is not None:
                snapshot.know(member)
            return snapshot, None
        texts = inputs.cluster_texts(reading, cluster_id)
        snapshot = inputs.cluster_snapshot(cluster_id, texts)
        return snapshot, clusterdocs.Document(cluster_id, found.label, texts, snapshot)

    def _snapshot(
        self, hostname: str, stamp: changes.Stamp, reading: Connection
    ) -> tuple[inputs.Snapshot, clusterdocs.Document | None]:
        """The node's cluster as read since the last change: read once, for
        all its members."""
        with self._lock:
            key = self._where.get(hostname)
            cached = self._snapshots.get(key) if key is not None else None
        if cached is not None:
            return cached, None
        found = clusterdocs.lookup(reading, hostname, clusterdocs.label(reading, stamp))
        document = None
        if found.cluster_id is None:
            key, snapshot = ("node", hostname), inputs.single_snapshot(found.node)
        else:
            key = ("cluster", found.cluster_id)
            with self._lock:
                cached = self._snapshots.get(key)
            if cached is None:
                snapshot, document = self._read_cluster(found.cluster_id, found, hostname, reading)
            else:
                snapshot = cached
        with self._lock:
            self._snapshots[key] = snapshot
            self._where.update(dict.fromkeys(snapshot.hostnames, key))
        return snapshot, document

    def get(
        self,
        hostname: str,
        boot: BootInfo,
        session: Session | None = None,
    ) -> Overlay:
        """The node's overlay; ConfigError when its configuration does not
        render, NotFound for an unknown node. A caller inside a read
        transaction passes its session, which saves opening another. A read
        of its own locks nothing and needs no snapshot shared by its
        statements (a cluster read after the stamp is at least as new as
        the stamp): it runs on a kept connection, without BEGIN and COMMIT
        on PostgreSQL."""
        if session is not None:
            return self._get(hostname, boot, session.connection())
        return self._readers.run(lambda reading: self._get(hostname, boot, reading))

    def _get(self, hostname: str, boot: BootInfo, reading: Connection) -> Overlay:
        stamp = (changes.stamp(reading), self.templates.stamp(self.template_check_s))
        key = (hostname, boot)
        with self._lock:
            if stamp != self._stamp:
                self._stamp = stamp
                self._snapshots.clear()
                self._where.clear()
            entry = self._cache.get(key)
            if entry is not None and entry.stamp == stamp:
                self._cache.move_to_end(key)
                self.hits += 1
                return entry.result()
        snapshot, document = self._snapshot(hostname, stamp[0], reading)
        digest = input_digest(snapshot, hostname, boot, stamp[1], self.agent)
        if entry is None or entry.digest != digest:
            outcome: Overlay | ConfigError
            try:
                outcome = build(self.templates, snapshot, hostname, boot, digest, self.agent)
            except ConfigError as exc:
                outcome = exc
            entry = _Entry(stamp, digest, outcome)
            with self._lock:
                self.builds += 1
        else:
            entry = _Entry(stamp, digest, entry.outcome)
            with self._lock:
                self.hits += 1
        with self._lock:
            self._cache[key] = entry
            self._cache.move_to_end(key)
            while len(self._cache) > self.entries:
                self._cache.popitem(last=False)
        if document is not None:
            # After the render, which has worked out most of its roster.
            self.documents.keep(document)
        return entry.result()
