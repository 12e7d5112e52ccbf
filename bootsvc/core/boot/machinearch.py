"""A machine boots only a version built for its architecture: what its
iPXE says it is (`${buildarch}`), against what the kernel's header says."""

from __future__ import annotations

from bootsvc.core.boot.bootplan import BootPlan, NoBoot
from bootsvc.core.catalog.kernelarch import X86_64

# iPXE's BIOS build is i386 code, on x86-64 machines that run 64-bit kernels.
_SAME_AS = {"i386": X86_64}


def wrong_architecture(plan: BootPlan, buildarch: str | None) -> NoBoot | None:
    """Why the machine must not get this version, if it must not: its
    firmware would download the kernel and then fail to start it."""
    if not buildarch or plan.architecture is None:
        return None
    machine = _SAME_AS.get(buildarch, buildarch)
    if machine == plan.architecture:
        return None
    return NoBoot(
        f"{plan.image} {plan.version} is built for {plan.architecture}, "
        f"and this machine is {machine}",
        plan.version_id,
    )
