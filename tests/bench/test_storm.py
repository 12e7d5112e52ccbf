"""A reduced boot storm: fifty machines, BIOS and UEFI, power on within a
second and boot through DHCP, TFTP and HTTP from `bootsvc serve`, each for
the first time (bootsvc makes their secrets then). None may be lost."""

from __future__ import annotations

import pytest

from bench.storm.firmware import Timers
from bench.storm.run import Records, Storm, run
from bench.storm.stacks import Sizes


@pytest.mark.netns
@pytest.mark.alone
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
    # Every machine's boot was closed by its boot-up report, which needs its
    # boot token, and kept the address it booted with.
    assert summary.records == Records(boots_up=50, leases_held=50, shared_addresses=0)


@pytest.mark.netns
@pytest.mark.alone
def test_a_restart_mid_storm_loses_no_machine_and_keeps_its_state() -> None:
    """bootsvc restarted (as `systemctl restart` does) once half the machines
    have their node script: the others retry on their firmware's timers, and
    leases, tokens and boot records outlive the restart. They power on
    within a quarter of a second: with files this small a machine boots in
    a fraction of a second after its script, and over a whole second too
    few (at times none) were between their script and their up report when
    the restart came."""
    storm = Storm(
        nodes=50,
        sizes=Sizes(kernel=256 << 10, initrd=1 << 20, root=2 << 20),
        spread=0.25,
        timers=Timers(deadline=300.0),
        restart_share=0.5,
    )
    [summary] = run(storm, ["bootsvc"])
    assert summary.lost_why == {}
    assert (summary.up, summary.lost) == (50, 0)
    restart = summary.restart
    assert restart is not None and restart.down_s > 0
    # Machines with a script (and its token) from before the restart finished after it.
    assert restart.spanning > 0
    assert restart.spanning_up == restart.spanning
    assert summary.records == Records(boots_up=50, leases_held=50, shared_addresses=0)
