"""radvd in an IPv6-only lab (lab_dhcp_tftp = "bootsvc-ipv6"): the router
advertisements a site's router sends, with the M flag that sends firmware
and iPXE to bootsvc's DHCPv6 for their address and boot file. Its
configuration is a template, as for dnsmasq, so a site can override it."""

from __future__ import annotations

from pathlib import Path

from bootsvc.core import render
from bootsvc.lab.network import LabNetwork

TEMPLATE = "lab/radvd.conf.j2"


def config(lab: str, network: LabNetwork, template_dir: Path | None = None) -> str:
    context = {"lab": lab, "interface": network.interface, "prefix": str(network.server.network)}
    return render.render(template_dir, TEMPLATE, context)


def argv(config_file: Path, pid_file: Path) -> list[str]:
    """In the foreground, logging to stderr (the lab's log file)."""
    return [
        "radvd",
        "--nodaemon",
        f"--config={config_file}",
        f"--pidfile={pid_file}",
        "--logmethod=stderr",
    ]
