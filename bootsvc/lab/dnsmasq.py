"""dnsmasq in a lab: the site's existing DHCP server handing out addresses
only, beside bootsvc's ProxyDHCP (lab_dhcp_tftp = "proxy"), or DHCP and TFTP
of the loaders on its own (lab_dhcp_tftp = "dnsmasq"). Its configuration is a
template like every file bootsvc hands out, so a site can override it."""

from __future__ import annotations

from pathlib import Path

from bootsvc.core import render
from bootsvc.lab.network import LabNetwork
from bootsvc.lab.system import LabError

TEMPLATE = "lab/dnsmasq.conf.j2"


def config(
    lab: str,
    network: LabNetwork,
    base_url: str,
    loader_dir: Path,
    uefi_loader: str,
    lease_file: Path,
    hosts_dir: Path,
    template_dir: Path | None = None,
    boot_files: bool = True,
) -> str:
    start, end = network.pool()
    return render.render(
        template_dir,
        TEMPLATE,
        {
            "lab": lab,
            "interface": network.interface,
            "pool_start": start,
            "pool_end": end,
            "netmask": str(network.server.netmask),
            "lease_file": lease_file,
            "hosts_dir": hosts_dir,
            "loader_dir": loader_dir,
            "uefi_loader": uefi_loader,
            "base_url": base_url,
            "boot_files": boot_files,
        },
    )


def check_loaders(loader_dir: Path, uefi_loader: str) -> None:
    """dnsmasq serves the loaders from loader_dir: fail now, not at a VM's boot."""
    for loader in ("undionly.kpxe", uefi_loader):
        if not (loader_dir / loader).is_file():
            raise LabError(f"{loader} is not in {loader_dir}: apt-get install ipxe")


def argv(config_file: Path) -> list[str]:
    return ["dnsmasq", "--keep-in-foreground", f"--conf-file={config_file}"]
