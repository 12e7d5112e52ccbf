"""The DHCP service starts only when a DHCP mode is set, and its settings
are checked when they are read."""

from __future__ import annotations

from pathlib import Path

import pytest

from bootsvc.errors import SettingsError
from bootsvc.serve import services_for
from bootsvc.settings import DhcpMode, Settings, load_settings


@pytest.mark.parametrize(
    ("mode", "started"),
    [(None, False), (DhcpMode.OFF, False), (DhcpMode.AUTHORITATIVE, True), (DhcpMode.PROXY, True)],
)
def test_dhcp_child_only_when_enabled(tmp_path: Path, mode: DhcpMode | None, started: bool) -> None:
    settings = Settings(data_dir=tmp_path, dhcp_mode=mode, dhcp_interface="eth0")
    assert ("dhcp" in services_for(settings)) is started


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"BOOTSVC_DHCP_MODE": "authoritative"}, "needs dhcp_interface"),
        ({"BOOTSVC_DHCP_SUBNET": "10.0.0.0/33"}, "BOOTSVC_DHCP_SUBNET"),
        ({"BOOTSVC_DHCP_POOL": "10.0.0.9-10.0.0.1", "BOOTSVC_DHCP_SUBNET": "10.0.0.0/24"}, "after"),
        (
            {"BOOTSVC_DHCP_POOL": "10.0.1.1-10.0.1.9", "BOOTSVC_DHCP_SUBNET": "10.0.0.0/24"},
            "inside",
        ),
        ({"BOOTSVC_DHCP_DNS": "10.0.0.1,nameserver"}, "BOOTSVC_DHCP_DNS"),
        ({"BOOTSVC_DHCP_PROXY_UEFI": "pixiecore,7=ipxe"}, "ProxyDHCP style"),
        ({"BOOTSVC_UEFI_LOADER": "grub.efi"}, "snponly.efi or ipxe.efi"),
    ],
)
def test_bad_dhcp_settings(tmp_path: Path, environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(environ={"BOOTSVC_DATA_DIR": str(tmp_path), **environ})


def test_dhcp_settings_normalised(tmp_path: Path) -> None:
    settings = load_settings(
        environ={
            "BOOTSVC_DATA_DIR": str(tmp_path),
            "BOOTSVC_DHCP_DNS": " 10.0.0.1, 10.0.0.2 ",
            "BOOTSVC_DHCP_POOL": "10.0.0.100 - 10.0.0.150",
            "BOOTSVC_DHCP_SUBNET": "10.0.0.0/24",
        }
    )
    assert (settings.dhcp_dns, settings.dhcp_pool) == ("10.0.0.1,10.0.0.2", "10.0.0.100-10.0.0.150")
