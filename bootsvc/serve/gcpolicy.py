"""How a long-running service process treats Python's garbage collector.

A full collection walks every tracked object and holds the GIL while it
does: with the modules, SQLAlchemy and Jinja (and the DHCP service's tens of
thousands of leases) loaded, that is tens of milliseconds, which lands on
whatever reply or request is running. Reference counting frees almost all
of a service's garbage anyway.
"""

from __future__ import annotations

import gc


def quiet_garbage_collector() -> int:
    """Freeze what start-up loaded out of the collector's walks and collect
    young objects a tenth as often; call once the process has loaded what it
    serves with. Returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 100)
    return gc.get_freeze_count()
