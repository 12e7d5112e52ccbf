"""The Secure Boot path (x86-64 UEFI): Debian's signed shim, then its signed
network GRUB, then a signed kernel. The firmware does not say whether Secure
Boot is on, so the CMDB does: `secure_boot` in the node's facts, else in its
cluster's settings, else the site's `secure_boot` setting. ARM64 UEFI always
boots through the arm64 shim and GRUB, Secure Boot on or off."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bootsvc.core.boot.bootingnode import BootingNode
from bootsvc.core.boot.bootplan import BootPlan, NoBoot
from bootsvc.core.catalog.kernelarch import ARM64
from bootsvc.core.cmdb.records import SECURE_BOOT
from bootsvc.settings import Settings

SHIM = "shimx64.efi"
# shim loads this name from the directory it was loaded from.
GRUB = "grubx64.efi"
# grubnetx64.efi.signed has the prefix /grub built in, on the server it came
# from (TFTP: it has no HTTP module), and sources $prefix/x86_64-efi/grub.cfg
# if that exists, else $prefix/grub.cfg. No module can be added under Secure Boot.
GRUB_CONFIG = "grub/grub.cfg"
GRUB_NODE_CONFIG = "grub/node/{mac}.cfg"
# The arm64 twins; grubnetaa64.efi.signed has the same built-in prefix.
SHIM_ARM64 = "shimaa64.efi"
GRUB_ARM64 = "grubaa64.efi"


def signed_loaders(settings: Settings) -> dict[str, Path]:
    """The served name of each signed loader, and the file Debian installs."""
    return {
        SHIM: settings.shim_dir / "shimx64.efi.signed",
        GRUB: settings.grub_dir / "grubnetx64.efi.signed",
        SHIM_ARM64: settings.arm64_shim_dir / "shimaa64.efi.signed",
        GRUB_ARM64: settings.arm64_grub_dir / "grubnetaa64.efi.signed",
    }


def _said(values: Mapping[str, Any] | None) -> bool | None:
    value = (values or {}).get(SECURE_BOOT)
    return value if isinstance(value, bool) else None


def takes_secure_boot(
    facts: Mapping[str, Any] | None, cluster_settings: Mapping[str, Any] | None, site_default: bool
) -> bool:
    """Whether a machine boots through shim and GRUB rather than iPXE: a
    true or false `secure_boot` decides (the CMDB refuses anything else; a
    value stored before it did is not a say)."""
    for said in (_said(facts), _said(cluster_settings)):
        if said is not None:
            return said
    return site_default


def needs_signed_kernel(node: BootingNode, arch: str | None, site_default: bool) -> bool:
    """Whether a machine that GRUB boots must get a signed kernel: an x86-64
    one reaches GRUB only on the Secure Boot path; an arm64 one always boots
    through GRUB, and needs a signed kernel only with Secure Boot on."""
    return arch != ARM64 or takes_secure_boot(node.facts, node.cluster_settings, site_default)


def unsigned_kernel(plan: BootPlan) -> NoBoot | None:
    """Why a Secure Boot node must not get this version, if it must not:
    its firmware would refuse the kernel after the whole download."""
    if plan.kernel_signed:
        return None
    state = "is not signed" if plan.kernel_signed is False else "was never checked for a signature"
    return NoBoot(
        f"{plan.image} {plan.version}: its kernel {state}, and a Secure Boot node "
        "boots only a signed kernel",
        plan.version_id,
    )
