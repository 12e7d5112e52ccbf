"""A node's public files, rendered and packed on request and cached by a
digest of their inputs: the cluster snapshot, the node, how it boots, and
the templates. Nothing is written ahead of time, for any node.

Asking costs one indexed query (has the CMDB changed?) and, at most once a
second, a stat of the template files; when neither moved, the cached
overlay is the answer. When something did, the node's cluster is read again
once per process (from its stored document, when another process has
already read it since the change: bootsvc.core.nodeconfig.clusterdocs) and
the node's input digest recomputed: a change elsewhere (another cluster, a
field templates do not see) still ends in a cache hit. Overlays that fail
to render are cached too, as their error.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from bootsvc.core.nodeconfig import changes, clusterdocs, cpio, files, inputs
from bootsvc.core.nodeconfig.context import BootInfo, NodeContext, agent_values
from bootsvc.core.nodeconfig.problems import ConfigError
from bootsvc.core.nodeconfig.templating import Stamp, Templates
from bootsvc.store.db import Database

CACHE_ENTRIES = 2048


class Unknown:
    """No cluster id given (None means: the node has no cluster)."""


UNKNOWN = Unknown()
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
        self.hits = 0
        self.builds = 0
        self._lock = threading.Lock()
        self._stamp: tuple[Any, Stamp] | None = None
        self._cache: OrderedDict[tuple[str, BootInfo], _Entry] = OrderedDict()
        self._snapshots: dict[Any, inputs.Snapshot] = {}
        self._where: dict[str, Any] = {}

    def _read_cluster(
        self, cluster_id: int, stamp: changes.Stamp, reading: Session
    ) -> inputs.Snapshot:
        """From its document when one is stored under this stamp; otherwise
        from its members' rows, and the texts kept for the next reader."""
        label = clusterdocs.label(reading, stamp)
        texts = clusterdocs.stored(reading, cluster_id, label)
        fresh = texts is None
        if texts is None:
            texts = inputs.cluster_texts(reading, cluster_id)
        # Parsed before it is kept: a cluster that is gone raises NotFound.
        snapshot = inputs.cluster_snapshot(cluster_id, texts)
        if fresh:
            self.documents.keep(cluster_id, label, texts)
        return snapshot

    def _snapshot(
        self,
        hostname: str,
        cluster_id: int | Unknown | None,
        stamp: changes.Stamp,
        reading: Session,
    ) -> inputs.Snapshot:
        """The node's cluster as read since the last change: read once, for
        all its members. A caller that knows the node's cluster id saves a
        query."""
        with self._lock:
            key = self._where.get(hostname)
            found = self._snapshots.get(key) if key is not None else None
        if found is not None:
            return found
        if isinstance(cluster_id, Unknown):
            cluster_id = inputs.cluster_of(reading, hostname)
        key = ("node", hostname) if cluster_id is None else ("cluster", cluster_id)
        with self._lock:
            found = self._snapshots.get(key)
        if found is None:
            if cluster_id is None:
                found = inputs.load_single(reading, hostname)
            else:
                found = self._read_cluster(cluster_id, stamp, reading)
        with self._lock:
            self._snapshots[key] = found
            self._where.update(dict.fromkeys(found.hostnames, key))
        return found

    def get(
        self,
        hostname: str,
        boot: BootInfo,
        cluster_id: int | Unknown | None = UNKNOWN,
        session: Session | None = None,
    ) -> Overlay:
        """The node's overlay; ConfigError when its configuration does not
        render, NotFound for an unknown node. A caller inside a read
        transaction passes its session, which saves opening another; a miss
        reads its stamp and its cluster in one transaction."""
        with nullcontext(session) if session is not None else self.db.read() as reading:
            return self._get(hostname, boot, cluster_id, reading)

    def _get(
        self, hostname: str, boot: BootInfo, cluster_id: int | Unknown | None, reading: Session
    ) -> Overlay:
        stamp = (changes.stamp(reading.connection()), self.templates.stamp(self.template_check_s))
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
        snapshot = self._snapshot(hostname, cluster_id, stamp[0], reading)
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
        return entry.result()
