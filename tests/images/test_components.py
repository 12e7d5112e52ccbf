"""Every image family carries every cluster component of images/components.yaml:
the Debian family in its packages.txt, the EL family in its rendered
kickstart's %packages, as pykickstart reads them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pykickstart.parser import KickstartParser
from pykickstart.version import RHEL9, makeVersion

from bootsvc.images import kickstart, recipes

COMPONENTS = recipes.default_dir() / "components.yaml"


def _components() -> dict[str, dict[str, str]]:
    listed: dict[str, dict[str, str]] = yaml.safe_load(COMPONENTS.read_text())["components"]
    return listed


def debian_packages(path: Path) -> set[str]:
    """packages.txt: one package a line, # comments and blank lines."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return {line for line in lines if line}


def el9_packages(text: str) -> set[str]:
    handler = makeVersion(RHEL9)
    KickstartParser(handler).readKickstartFromString(text)
    return set(handler.packages.packageList)


def missing(family: str, packages: set[str]) -> list[str]:
    return [
        f"{component} ({names[family]})"
        for component, names in _components().items()
        if names[family] not in packages
    ]


def test_every_component_names_a_package_in_every_family() -> None:
    families = yaml.safe_load(COMPONENTS.read_text())["families"]
    assert families == ["debian", "el9"]
    for component, names in _components().items():
        assert set(names) == set(families), component
    assert {"corosync", "pacemaker", "pcs", "openvswitch", "ceph-osd", "qemu"} <= set(_components())


def test_debian_family_carries_every_component() -> None:
    packages = recipes.default_dir() / "debian-hypervisor" / "packages.txt"
    assert missing("debian", debian_packages(packages)) == []


def test_el9_family_carries_every_component() -> None:
    assert missing("el9", el9_packages(kickstart.render("el9-hypervisor", "1"))) == []


@pytest.mark.parametrize("family", ["debian", "el9"])
def test_a_family_that_drops_a_component_is_caught(family: str) -> None:
    if family == "debian":
        packages = debian_packages(recipes.default_dir() / "debian-hypervisor" / "packages.txt")
    else:
        packages = el9_packages(kickstart.render("el9-hypervisor", "1"))
    dropped = _components()["pacemaker"][family]
    assert missing(family, packages - {dropped}) == [f"pacemaker ({dropped})"]
