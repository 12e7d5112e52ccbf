"""A node's public files, rendered and packed on request and cached by a
digest of their inputs: its cluster as read, the node, how it boots, and the
templates. Nothing is written ahead of time, for any node.

A request asks whether the CMDB has changed (one indexed query) and, at most
once a second, stats the templates; when neither moved, the cached overlay is
the answer. After a change, a node's cluster is read once per process for all
its members, and a node whose inputs kept their digest is not rendered again.
Overlays that fail to render are cached too, as their error."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from bootsvc.core.nodeconfig import changes, cpio, files, inputs
from bootsvc.core.nodeconfig.context import BootInfo, NodeContext, agent_values
from bootsvc.core.nodeconfig.problems import ConfigError
from bootsvc.core.nodeconfig.templating import Stamp, Templates
from bootsvc.metrics import families
from bootsvc.store.db import Database

CACHE_ENTRIES = 2048
# Template edits are noticed within this long; the CMDB is asked on every
# request.
TEMPLATE_CHECK_S = 1.0

Revision = tuple[changes.CmdbRevision, Stamp]


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
    templates: Stamp,
    agent: Mapping[str, Any],
) -> str:
    text = repr((snapshot.digest, hostname, boot, templates.files, sorted(agent.items())))
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


@dataclass(frozen=True)
class _Entry:
    revision: Revision
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
    ) -> None:
        self.db = db
        self.templates = templates
        self.agent = agent if agent is not None else agent_values()
        self.entries = entries
        self.template_check_s = template_check_s
        self._lock = threading.Lock()
        # One cluster read at a time: the members that ask while it is read
        # wait for it instead of reading it too.
        self._reading = threading.Lock()
        self._revision: Revision | None = None
        self._cache: OrderedDict[tuple[str, BootInfo], _Entry] = OrderedDict()
        # Every node read since the revision, by hostname.
        self._snapshots: dict[str, inputs.Snapshot] = {}

    def get(self, hostname: str, boot: BootInfo, reading: Connection | None = None) -> Overlay:
        """The node's overlay; ConfigError when its configuration does not
        render, NotFound for an unknown node. A caller that holds a
        connection passes it, which saves opening another."""
        if reading is not None:
            return self._get(hostname, boot, reading)
        return self.db.read_statements(lambda reading: self._get(hostname, boot, reading))

    def _snapshot(self, hostname: str, revision: Revision, reading: Connection) -> inputs.Snapshot:
        with self._lock:
            found = self._snapshots.get(hostname)
        if found is not None:
            return found
        with self._reading:
            with self._lock:
                found = self._snapshots.get(hostname)
            if found is None:
                found = inputs.read(reading, hostname)
                with self._lock:
                    # Read under a revision that is no longer the newest, it
                    # may be older than what the newest stands for.
                    if revision == self._revision:
                        self._snapshots.update(dict.fromkeys(found.hostnames, found))
        return found

    def snapshot(self, hostname: str) -> inputs.Snapshot:
        """The node's inputs as its overlay is made from them: its secrets
        need the same, and its cluster is then not read again per request."""
        return self.db.read_statements(
            lambda reading: self._snapshot(hostname, self._current(reading), reading)
        )

    def _current(self, reading: Connection) -> Revision:
        """The revision now; the snapshots of an older one are dropped."""
        revision = (
            changes.cmdb_revision(reading),
            self.templates.stamp(self.template_check_s),
        )
        with self._lock:
            if revision != self._revision:
                self._revision = revision
                self._snapshots.clear()
        return revision

    def _get(self, hostname: str, boot: BootInfo, reading: Connection) -> Overlay:
        revision = self._current(reading)
        key = (hostname, boot)
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None and entry.revision == revision:
                self._cache.move_to_end(key)
                families.overlay_lookup(hit=True)
                return entry.result()
        snapshot = self._snapshot(hostname, revision, reading)
        digest = input_digest(snapshot, hostname, boot, revision[1], self.agent)
        # An entry whose inputs did not change under a new revision is a hit too.
        families.overlay_lookup(hit=entry is not None and entry.digest == digest)
        if entry is None or entry.digest != digest:
            outcome: Overlay | ConfigError
            try:
                outcome = build(self.templates, snapshot, hostname, boot, digest, self.agent)
            except ConfigError as exc:
                outcome = exc
            entry = _Entry(revision, digest, outcome)
        else:
            entry = _Entry(revision, digest, entry.outcome)
        with self._lock:
            self._cache[key] = entry
            self._cache.move_to_end(key)
            while len(self._cache) > self.entries:
                self._cache.popitem(last=False)
        return entry.result()
