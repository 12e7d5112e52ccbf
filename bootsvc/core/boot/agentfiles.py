"""The node agent's files, for the per-node overlay: where each goes on the
node, which template under templates/overlay/agent/ makes it, and its mode.

Every node gets the same files: the agent learns its URL and MAC from the
kernel command line, its running version from the image, and everything
else from GET /boot/desired. They need no secret and may go in the public
part of the overlay. Units are started by drop-ins on their targets rather
than enable symlinks, so that the overlay stays plain files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bootsvc.core import render
from bootsvc.settings import Settings

AGENT = "/usr/local/sbin/bootsvc-agent"
_UNITS = "/etc/systemd/system"


@dataclass(frozen=True)
class AgentFile:
    target: str
    template: str
    mode: int


FILES = (
    AgentFile(AGENT, "overlay/agent/bootsvc-agent.sh.j2", 0o755),
    AgentFile(f"{_UNITS}/bootsvc-agent.service", "overlay/agent/bootsvc-agent.service.j2", 0o644),
    AgentFile(f"{_UNITS}/bootsvc-agent.timer", "overlay/agent/bootsvc-agent.timer.j2", 0o644),
    AgentFile(
        f"{_UNITS}/bootsvc-agent-boot.service",
        "overlay/agent/bootsvc-agent-boot.service.j2",
        0o644,
    ),
    AgentFile(
        f"{_UNITS}/timers.target.d/bootsvc-agent.conf", "overlay/agent/wants-timer.conf.j2", 0o644
    ),
    AgentFile(
        f"{_UNITS}/multi-user.target.d/bootsvc-agent.conf",
        "overlay/agent/wants-boot.conf.j2",
        0o644,
    ),
)


def context(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """What the templates see (the boot report's script reads the same
    cmdline_file). `overrides` moves the files the agent reads (cmdline_file,
    image_file, run_dir) or shortens its waits, for a test that runs it off a
    node."""
    return {
        "agent_path": AGENT,
        "cmdline_file": "/proc/cmdline",
        "image_file": "/etc/bootsvc-image",
        "run_dir": "/run/bootsvc-agent",
        "interval_s": settings.agent_interval_s,
        "drain_timeout_s": settings.agent_drain_timeout_s,
        "health_timeout_s": settings.rollout_health_timeout_s,
        "poll_s": 5,
        **overrides,
    }


def render_files(template_dir: Path | None, values: dict[str, Any]) -> list[tuple[AgentFile, str]]:
    return [(file, render.render(template_dir, file.template, values)) for file in FILES]
