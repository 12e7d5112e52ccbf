"""A site that serves IPv6 too: a machine asking over IPv6 gets a script
whose every URL names the IPv6 URL, and a kernel argument with its address
and on-link prefix (bootsvc.ip6) for its initramfs; over IPv4, and from an
IPv4-mapped address, nothing changes."""

from __future__ import annotations

import re
from pathlib import Path

from bootsvc.core.boot import bootscript
from bootsvc.core.boot.bootplan import BootPlan
from bootsvc.core.boot.bootscript import BootSite, Machine
from bootsvc.settings import Settings
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from tests.support import factory

SITE = BootSite(
    base_url="http://10.0.0.1:8080",
    template_dir=None,
    default_image="",
    base_url6="http://[fd00:77::1]:8080",
    ipv6_prefix_length=64,
)
MAC = "52:54:00:aa:66:01"
IP6 = "fd00:77::66"
IP4 = "10.0.0.66"


def _node(db: Database, store: ArtifactStore) -> None:
    factory.version(db, store, "hv", "1", cmdline="fetch={{ rootfs_url }}", rootfs=True)
    factory.node(
        db,
        hostname="hv66",
        interfaces=[{"name": "eth0", "mac": MAC, "ip": IP6}],
        image="hv=1",
    )


def _urls(text: str) -> set[str]:
    return set(re.findall(r"(?:https?|tftp)://[^\s/]+", text))


def test_a_machine_asking_over_ipv6_gets_ipv6_urls_and_its_address(
    db: Database, store: ArtifactStore
) -> None:
    _node(db, store)
    script = bootscript.serve_node_script(db, SITE, Machine(mac=MAC, ip=IP6))
    assert isinstance(script.plan, BootPlan)
    assert _urls(script.text) == {"http://[fd00:77::1]:8080"}, script.text
    arguments = factory.kernel_arguments(script.text).split()
    assert f"bootsvc.ip6={IP6}/64" in arguments
    assert "bootsvc.url=http://[fd00:77::1]:8080" in arguments
    # Its own address (the CMDB's, no lease): secrets and a boot token.
    assert script.verdict is not None and script.verdict.ip == IP6
    assert "bootsvc.token=" in script.text
    first = bootscript.first_script(SITE.for_client(IP6))
    assert "chain --autofree http://[fd00:77::1]:8080/boot/node.ipxe?" in first


def test_over_ipv4_and_from_a_mapped_address_the_urls_stay_ipv4(
    db: Database, store: ArtifactStore
) -> None:
    _node(db, store)
    for ip in (IP4, f"::ffff:{IP4}"):
        script = bootscript.serve_node_script(db, SITE, Machine(mac=MAC, ip=ip))
        assert _urls(script.text) == {"http://10.0.0.1:8080"}, script.text
        assert "bootsvc.ip6=" not in script.text
    assert SITE.for_client(f"::ffff:{IP4}") is SITE
    assert SITE.for_client(None) is SITE


def test_a_site_without_an_ipv6_url_keeps_its_url_for_everyone() -> None:
    site = BootSite(base_url="http://10.0.0.1:8080", template_dir=None, default_image="")
    assert site.for_client(IP6) is site


def test_the_ipv6_url_and_prefix_come_from_the_settings(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        advertise_url="http://10.0.0.1:8080",
        advertise_url6="http://[fd00:77::1]:8080",
        dhcp6_subnet="fd00:77::/56",
    )
    site = BootSite.from_settings(settings)
    assert (site.base_url6, site.ipv6_prefix_length) == ("http://[fd00:77::1]:8080", 56)
    # An advertised URL with an IPv6 host is the IPv6 URL too.
    only6 = Settings(data_dir=tmp_path, advertise_url="http://[fd00:77::1]:8080")
    assert only6.base_url6 == "http://[fd00:77::1]:8080" and only6.ipv6_prefix_length == 64
    assert Settings(data_dir=tmp_path, advertise_url="http://10.0.0.1:8080").base_url6 == ""
