"""A service process takes what it loaded at start-up out of the garbage
collector's walks, and collects young objects less often."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from bootsvc.serve.gcpolicy import quiet_garbage_collector


@pytest.fixture
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_collector")
def test_what_was_loaded_is_no_longer_walked() -> None:
    loaded = [object()]
    frozen = quiet_garbage_collector()
    assert frozen == gc.get_freeze_count() > 0
    assert not any(tracked is loaded for tracked in gc.get_objects())
    made_later = [object()]
    assert any(tracked is made_later for tracked in gc.get_objects())
    assert gc.get_threshold()[0] > 700
