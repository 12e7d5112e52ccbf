"""Writes bootsvc's systemd unit, settings file, system user and data
directory under a root directory: "/" on a server, a scratch tree in tests.

The user and the directories are declared as systemd-sysusers and
systemd-tmpfiles files and applied with those tools' --root, so owners and
modes come out the same on the host and in a scratch tree, and the host
re-applies them at every boot. Every step can run again and changes nothing
that is already right; the settings file is never overwritten."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from string import Template

from bootsvc.errors import BootsvcError

FILES = Path(__file__).parent / "files"
UNIT = Path("etc/systemd/system/bootsvc.service")
CONFIG = Path("etc/bootsvc/bootsvc.toml")
SYSUSERS = Path("etc/sysusers.d/bootsvc.conf")
TMPFILES = Path("etc/tmpfiles.d/bootsvc.conf")
SYSCTL = Path("etc/sysctl.d/60-bootsvc.conf")
DATA_DIR = Path("/var/lib/bootsvc")


class InstallFailed(BootsvcError):
    code = "install-failed"


@dataclass(frozen=True)
class Installation:
    """Where to install, and the command the unit runs."""

    root: Path
    exec_start: str

    def at(self, relative: Path) -> Path:
        return self.root / relative

    def render(self, name: str) -> str:
        template = Template((FILES / name).read_text())
        return template.substitute(
            exec_start=self.exec_start, config=f"/{CONFIG}", data_dir=str(DATA_DIR)
        )


def bootsvc_command() -> str:
    """The running bootsvc as an absolute command line, unresolved, so that a
    venv's interpreter keeps finding its venv."""
    script = Path(sys.executable).parent / "bootsvc"
    if script.is_file():
        return str(script)
    return f"{shlex.quote(sys.executable)} -m bootsvc"


def _write(path: Path, text: str, mode: int) -> str:
    if path.is_file() and path.read_text() == text:
        return "unchanged"
    existed = path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.new")
    temporary.write_text(text)
    temporary.chmod(mode)
    temporary.replace(path)
    return "updated" if existed else "written"


def _run(argv: list[str]) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise InstallFailed(f"{argv[0]} is missing (Debian package systemd)") from None
    if done.returncode != 0:
        reason = " ".join((done.stderr or done.stdout).split()) or f"exit {done.returncode}"
        raise InstallFailed(f"{argv[0]} failed: {reason}")


def install(where: Installation) -> list[str]:
    """Install; one line per step saying what it did."""
    lines = []
    for relative, name in ((SYSUSERS, "sysusers.conf"), (TMPFILES, "tmpfiles.conf")):
        state = _write(where.at(relative), where.render(name), 0o644)
        lines.append(f"{state} /{relative}")
    _run(["systemd-sysusers", f"--root={where.root}", str(where.at(SYSUSERS))])
    lines.append("system user bootsvc present")
    config = where.at(CONFIG)
    if config.exists():
        lines.append(f"kept /{CONFIG} (an existing settings file is never overwritten)")
    else:
        lines.append(f"{_write(config, where.render('bootsvc.toml'), 0o640)} /{CONFIG}")
    _run(["systemd-tmpfiles", "--create", f"--root={where.root}", str(where.at(TMPFILES))])
    lines.append(f"directories /etc/bootsvc and {DATA_DIR} owned and moded")
    lines.append(f"{_write(where.at(UNIT), where.render('bootsvc.service'), 0o644)} /{UNIT}")
    lines.append(f"{_write(where.at(SYSCTL), where.render('sysctl.conf'), 0o644)} /{SYSCTL}")
    if where.root == Path("/") and Path("/run/systemd/system").is_dir():
        _run(["systemctl", "daemon-reload"])
        lines.append("systemd reloaded")
        lines.append(_apply_sysctl(where.at(SYSCTL)))
    return lines


def _apply_sysctl(path: Path) -> str:
    """Applied now if the kernel lets us (not in a container); systemd
    applies it at every boot either way."""
    try:
        _run(["systemd-sysctl", str(path)])
    except InstallFailed as exc:
        return f"neighbour table sizes not applied now ({exc.message}); applied at next boot"
    return "neighbour table sizes applied"


def may_install(root: Path | None) -> bool:
    """Only root may install into the host; anyone into a tree of their own."""
    return root is not None or os.geteuid() == 0
