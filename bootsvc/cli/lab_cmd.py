"""lab up|image|boot|reset|status|down|demo: a boot network on this machine."""

from __future__ import annotations

import sys

import click

from bootsvc.cli import App
from bootsvc.images import builder, recipes
from bootsvc.lab import demo as lab_demo
from bootsvc.lab import lab as labs
from bootsvc.lab import processes
from bootsvc.lab.console import printable
from bootsvc.lab.qemu import Firmware
from bootsvc.lab.system import LabError

lab_option = click.option(
    "--lab", "lab_name", default="lab", show_default=True, help="Name of the lab."
)
firmware_option = click.option(
    "--firmware",
    type=click.Choice([f.value for f in Firmware]),
    default=Firmware.BIOS.value,
    show_default=True,
    help="bios: SeaBIOS and iPXE ROM; uefi: OVMF's own PXE, then iPXE; uefi-secureboot: "
    "OVMF with Secure Boot enforced and Microsoft's keys, then shim and GRUB; "
    "uefi-arm64: an aarch64 VM with AAVMF, then the arm64 shim and GRUB.",
)


def _stream(text: str) -> None:
    sys.stdout.write(printable(text))
    sys.stdout.flush()


@click.group()
def lab() -> None:
    """A lab on this machine: bootsvc in a network namespace, QEMU VMs booting from it."""


@lab.command()
@lab_option
@click.option("--interface", help="Serve on this existing interface instead of a namespace.")
@click.option("--fresh", is_flag=True, help="Start with an empty lab database.")
@click.pass_obj
def up(app: App, lab_name: str, interface: str | None, fresh: bool) -> None:
    """Create the lab network and start bootsvc (and dnsmasq) in it."""
    new = labs.Lab.up(app.settings, lab_name, interface, fresh)
    where = f"namespace {new.network.netns}" if new.network.netns else f"interface {interface}"
    click.echo(f"lab {new.name} is up: bootsvc at {new.base_url} in {where}")
    click.echo(f"  DHCP and TFTP: {new.state.dhcp_tftp}; logs in {new.dir / 'logs'}")
    click.echo(f"  its CLI: bootsvc --config {new.config_file} node list")


@lab.command()
@lab_option
@click.option("--recipe", default=recipes.SAMPLE_IMAGE, show_default=True)
@click.option("--version", "version_name", default="1", show_default=True)
@click.option("--channel", help="Also point this channel at the version.")
@click.pass_obj
def image(app: App, lab_name: str, recipe: str, version_name: str, channel: str | None) -> None:
    """Build an image recipe (cached) and import it into the lab."""
    current = labs.Lab.load(app.settings, lab_name)
    manifest = builder.build(
        builder.BuildRequest(recipe, version_name),
        app.settings.effective_image_cache_dir,
        app.settings.image_recipes_dir,
        echo=click.echo,
    ).manifest
    name, version = current.import_image(manifest, channel)
    click.echo(f"{name} {version} is in lab {lab_name} (built in {manifest.parent})")


@lab.command()
@click.argument("vm")
@lab_option
@firmware_option
@click.option("--mac", help="MAC address (default: derived from the VM name).")
@click.option("--memory", default=512, show_default=True, help="Memory in MiB.")
@click.option("--cpus", type=click.IntRange(1, 64), default=1, show_default=True, help="vCPUs.")
@click.option(
    "--disk",
    "disks",
    type=click.IntRange(1, 1024),
    multiple=True,
    help="A local disk of this many GiB (sparse; repeat for more: /dev/vda, /dev/vdb, ...).",
)
@click.option("--tpm", is_flag=True, help="Give the VM a TPM 2.0 (swtpm; kept with the VM's name).")
@click.option("--detach", is_flag=True, help="Start the VM and return.")
@click.option("--until-up", is_flag=True, help="Return once the VM reports up; it keeps running.")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds --until-up waits.")
@click.pass_obj
def boot(
    app: App,
    vm: str,
    lab_name: str,
    firmware: str,
    mac: str | None,
    memory: int,
    cpus: int,
    disks: tuple[int, ...],
    tpm: bool,
    detach: bool,
    until_up: bool,
    timeout: float,
) -> None:
    """Start VM on the lab network and follow its serial console
    (Ctrl-C stops the VM)."""
    current = labs.Lab.load(app.settings, lab_name)
    machine = current.boot(vm, Firmware(firmware), mac, memory, disks, tpm, cpus)
    click.echo(f"VM {vm} ({firmware}, MAC {machine.mac}); console in {machine.files.console}")
    if detach:
        return
    if until_up:
        boots = machine.wait_up(timeout, echo=_stream)
        if not boots:
            raise LabError(f"VM {vm} did not come up within {timeout:.0f} s")
        return
    try:
        machine.wait_up(float("inf"), boots=sys.maxsize, echo=_stream)
    except KeyboardInterrupt:
        click.echo(f"\nstopping VM {vm}")
    current.stop_vm(vm)


@lab.command()
@click.argument("vm")
@lab_option
@click.pass_obj
def reset(app: App, vm: str, lab_name: str) -> None:
    """Reset VM, as pressing its reset button; it boots from the network again."""
    labs.Lab.load(app.settings, lab_name).vm(vm).reset()
    click.echo(f"VM {vm} reset")


@lab.command()
@lab_option
@click.pass_obj
def status(app: App, lab_name: str) -> None:
    """Show the lab's services and VMs."""
    current = labs.Lab.load(app.settings, lab_name)
    click.echo(f"lab {current.name}: bootsvc at {current.base_url}, settings {current.config_file}")
    for service, pid in current.state.pids.items():
        state = "running" if processes.alive(pid) else "stopped"
        click.echo(f"  {service}: pid {pid}, {state}")
    for name in current.state.vms:
        vm = current.vm(name)
        state = "running" if vm.running() else "stopped"
        click.echo(f"  VM {name}: {vm.state.firmware}, MAC {vm.mac}, {state}")


@lab.command()
@lab_option
@click.pass_obj
def down(app: App, lab_name: str) -> None:
    """Stop everything the lab started and delete its network."""
    removed = labs.down(app.settings, lab_name)
    click.echo(f"lab {lab_name} {'removed' if removed else 'was not up'}")


@lab.command()
@firmware_option
@click.option("--keep", is_flag=True, help="Leave the lab up afterwards.")
@click.pass_obj
def demo(app: App, firmware: str, keep: bool) -> None:
    """Show bootsvc's main job: boot a node over the network, then show the fleet."""
    if not lab_demo.run(app.settings, Firmware(firmware), click.echo, _stream, keep):
        raise SystemExit(1)


COMMANDS = [lab]
