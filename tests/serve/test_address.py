"""The URLs nodes reach this server at, found from the interfaces when HTTP
listens on a wildcard: over IPv6, the DHCPv6 interface's address."""

from __future__ import annotations

from pathlib import Path

from bootsvc.serve.address import with_advertise_url
from bootsvc.settings import Settings


def test_listening_on_ipv6_any_finds_the_dhcp6_interfaces_address(tmp_path: Path) -> None:
    settings = with_advertise_url(
        Settings(data_dir=tmp_path, http_listen="[::]:8080", dhcp6_interface="lo")
    )
    assert settings.base_url6 == "http://[::1]:8080"
    assert settings.base_url.startswith("http://") and "[" not in settings.base_url


def test_given_urls_are_kept(tmp_path: Path) -> None:
    given = Settings(
        data_dir=tmp_path,
        http_listen="[::]:8080",
        dhcp6_interface="lo",
        advertise_url="http://[fd00:77::1]:8080",
    )
    assert with_advertise_url(given) is given
    assert given.base_url6 == "http://[fd00:77::1]:8080"
    ipv4_only = Settings(data_dir=tmp_path, http_listen="0.0.0.0:8080", dhcp6_interface="lo")
    assert with_advertise_url(ipv4_only).base_url6 == ""
