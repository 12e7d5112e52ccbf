from __future__ import annotations

import pytest

from bootsvc.core.rollout import quorum, waves


@pytest.mark.parametrize(
    ("voters", "allowed"),
    [(0, 0), (1, 1), (2, 1), (3, 1), (4, 1), (5, 2), (6, 2), (7, 3), (16, 7)],
)
def test_nodes_out_keep_a_majority(voters: int, allowed: int) -> None:
    assert quorum.max_out(voters) == allowed
    if voters > 2:
        assert voters - allowed > voters / 2
        assert voters - allowed - 1 <= voters / 2


def test_canary_first_then_batches_in_hostname_order() -> None:
    planned = waves.plan(["n4", "n2", "n1", "n5", "n3"], canary=1, batch=2)
    assert planned == {"n1": 1, "n2": 2, "n3": 2, "n4": 3, "n5": 3}
    assert waves.count(planned) == 3


def test_no_canary_and_a_canary_larger_than_the_cluster() -> None:
    assert waves.plan(["a", "b", "c"], canary=0, batch=2) == {"a": 1, "b": 1, "c": 2}
    assert waves.plan(["a", "b"], canary=5, batch=1) == {"a": 1, "b": 1}
    assert waves.count({}) == 0
    with pytest.raises(ValueError, match="at least one"):
        waves.plan(["a"], canary=0, batch=0)
