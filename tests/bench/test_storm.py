"""A reduced boot storm: fifty machines, BIOS and UEFI, power on within a
second and boot through DHCP, TFTP and HTTP from `bootsvc serve`, each for
the first time (bootsvc makes their secrets then). None may be lost."""

from __future__ import annotations

import pytest

from bench.storm.firmware import Timers
from bench.storm.run import Storm, run
from bench.storm.stacks import Sizes


@pytest.mark.netns
def test_fifty_machines_boot_at_once_and_none_is_lost() -> None:
    storm = Storm(
        nodes=50,
        sizes=Sizes(kernel=256 << 10, initrd=1 << 20, root=2 << 20),
        first_boot=True,
        timers=Timers(deadline=50.0),
    )
    [summary] = run(storm, ["bootsvc"])
    assert summary.lost_why == {}
    assert (summary.up, summary.lost) == (50, 0)
    # Every machine made it to its boot-up report, which needs its boot token.
    assert summary.stages["up"] > summary.stages["root"]
