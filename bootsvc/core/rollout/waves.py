"""The waves of a rollout: a canary of N nodes first, then batches of at most
K, in a stable order so that `status` and the audit log agree on who goes
when. Waves are numbered from 1; wave 0 holds the nodes that already run the
candidate and so have nothing to do."""

from __future__ import annotations

from collections.abc import Sequence


def plan(hostnames: Sequence[str], canary: int, batch: int) -> dict[str, int]:
    if batch < 1:
        raise ValueError("a batch holds at least one node")
    ordered = sorted(hostnames)
    canary = min(canary, len(ordered))
    waves = dict.fromkeys(ordered[:canary], 1)
    first = 2 if canary else 1
    for index, hostname in enumerate(ordered[canary:]):
        waves[hostname] = first + index // batch
    return waves


def count(waves: dict[str, int]) -> int:
    return max(waves.values(), default=0)
