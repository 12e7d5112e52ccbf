"""`bootsvc lab demo`: the main job of bootsvc on one machine, for a
newcomer. It starts bootsvc in a lab namespace, imports the sample image,
registers a node, boots that node in a QEMU VM while its console scrolls by,
prints the fleet status (`bootsvc fleet status`), and removes the lab again.

Every bootsvc command it runs is printed as it would be typed, so the demo
doubles as a walk-through.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bootsvc.images import builder, recipes
from bootsvc.lab.console import printable
from bootsvc.lab.lab import Lab, down
from bootsvc.lab.qemu import Firmware
from bootsvc.lab.system import LabError
from bootsvc.settings import Settings

LAB = "demo"
NODE = "demo-1"
NODE_MAC = "52:54:00:de:00:01"
CHANNEL = "stable"
BOOT_TIMEOUT_SECONDS = 300.0


def run(
    settings: Settings,
    firmware: Firmware,
    say: Callable[[str], None],
    stream: Callable[[str], None],
    keep: bool = False,
) -> bool:
    """True when the node came up on the image it was given."""
    steps = 6

    def step(number: int, text: str) -> None:
        say(f"\n== {number}/{steps} {text}")

    step(1, f"Building the sample image {recipes.SAMPLE_IMAGE} (cached after the first time)")
    manifest = builder.build(
        builder.BuildRequest(recipes.SAMPLE_IMAGE, "1"),
        settings.effective_image_cache_dir,
        settings.image_recipes_dir,
        echo=say,
    ).manifest
    say(f"manifest: {manifest}")

    step(
        2, f"Starting bootsvc in a lab network namespace (DHCP and TFTP: {settings.lab_dhcp_tftp})"
    )
    if down(settings, LAB):
        say(f"(removed lab {LAB} that an earlier demo left behind)")
    lab = Lab.up(settings, LAB, fresh=True)
    say(f"bootsvc answers at {lab.base_url} in namespace {lab.network.netns}")
    try:
        step(3, f"Importing the image and promoting it to the {CHANNEL} channel")
        image, version = lab.import_image(manifest, CHANNEL, echo=say)

        step(4, f"Registering node {NODE} in the CMDB, and the boot script it will get")
        lab.cli("node", "add", NODE, "--mac", NODE_MAC, "--image", f"{image}@{CHANNEL}", echo=say)
        # A preview: the script as the node will get it, not a boot attempt.
        lab.fetch(f"/boot/node.ipxe?mac={NODE_MAC.replace(':', '-')}&preview=1", echo=say)

        step(5, f"Booting {NODE} in a QEMU VM ({firmware.upper()}, TCG); its serial console:")
        started = time.monotonic()
        vm = lab.boot(NODE, firmware, NODE_MAC)
        boots = vm.wait_up(BOOT_TIMEOUT_SECONDS, echo=lambda text: stream(printable(text)))
        elapsed = time.monotonic() - started
        if boots:
            up = boots[-1].fields
            say(
                f"\n{NODE} is up: {up.get('image')} {up.get('version')} at {up.get('ip')}, "
                f"{elapsed:.0f} s after power-on"
            )
        else:
            say(f"\n{NODE} did not come up within {elapsed:.0f} s; see {vm.files.console}")

        step(6, "Fleet status")
        lab.cli("fleet", "status", echo=say)
        lab.cli("reports", "--limit", "10", echo=say)

        return bool(boots) and boots[-1].fields.get("version") == version
    except LabError as exc:
        say(f"demo failed: {exc.message}")
        return False
    finally:
        if keep:
            say(f"\nThe lab stays up; remove it with: bootsvc lab down --lab {LAB}")
        else:
            lab.down()
            say(f"\nLab removed (its logs stay in {lab.dir / 'logs'}).")
