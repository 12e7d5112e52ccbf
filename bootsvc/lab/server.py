"""The lab's own bootsvc: its settings file, its start, and HTTP requests to
it from outside the namespace (through curl run inside it)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import tomli_w

from bootsvc.lab import processes
from bootsvc.lab.network import LabNetwork
from bootsvc.lab.system import LabError, clean_environment, run
from bootsvc.settings import LabDhcpTftp, Settings

HTTP_PORT = 8080
READY_TIMEOUT_SECONDS = 60.0


def base_url(network: LabNetwork) -> str:
    return f"http://{network.url_host}:{HTTP_PORT}"


def settings_values(
    lab_dir: Path, network: LabNetwork, host: Settings, extra: dict[str, Any]
) -> dict[str, Any]:
    """The lab server's settings: HTTP on the lab network, and DHCP and TFTP
    too when bootsvc answers them (host.lab_dhcp_tftp), or DHCPv6 and TFTP
    and HTTP on every IPv6 address of an IPv6-only lab; `extra` last."""
    values: dict[str, Any] = {
        "data_dir": str(lab_dir / "data"),
        "http_listen": f"{network.url_host}:{HTTP_PORT}",
        "advertise_url": base_url(network),
        "http_workers": 1,
        "http_threads": 16,
        "loader_dir": str(host.loader_dir),
        "uefi_loader": host.uefi_loader,
    }
    if host.lab_dhcp_tftp is LabDhcpTftp.BOOTSVC:
        first, last = network.pool()
        values.update(
            dhcp_mode="authoritative",
            dhcp_interface=network.interface,
            dhcp_subnet=str(network.server.network),
            dhcp_pool=f"{first}-{last}",
            tftp_listen=f"{network.server_ip}:69",
        )
    elif host.lab_dhcp_tftp is LabDhcpTftp.BOOTSVC_IPV6:
        first, last = network.pool()
        values.update(
            http_listen=f"[::]:{HTTP_PORT}",
            dhcp6_mode="authoritative",
            dhcp6_interface=network.interface,
            dhcp6_subnet=str(network.server.network),
            dhcp6_range=f"{first}-{last}",
            tftp_listen="[::]:69",
        )
    elif host.lab_dhcp_tftp is LabDhcpTftp.PROXY:
        values.update(
            dhcp_mode="proxy",
            dhcp_interface=network.interface,
            tftp_listen=f"{network.server_ip}:69",
        )
    values.update(extra)
    Settings.model_validate(values)
    return values


def write_settings(path: Path, values: dict[str, Any]) -> None:
    header = "# Settings of a bootsvc lab server, written by `bootsvc lab up`.\n"
    path.write_text(header + tomli_w.dumps(values))


def cli_argv(config_file: Path, *args: str) -> list[str]:
    """The bootsvc command line against the lab server's settings."""
    return [sys.executable, "-m", "bootsvc", "--config", str(config_file), *args]


def cli(config_file: Path, *args: str) -> str:
    """Run a bootsvc command against the lab's database; return its output."""
    done = subprocess.run(
        cli_argv(config_file, *args),
        capture_output=True,
        text=True,
        env=clean_environment(),
        check=False,
    )
    if done.returncode != 0:
        raise LabError(f"bootsvc {' '.join(args[:2])}: {done.stderr.strip() or done.stdout}")
    return done.stdout


def start(config_file: Path, network: LabNetwork, log_path: Path) -> subprocess.Popen[bytes]:
    cli(config_file, "db", "upgrade")
    return processes.start(cli_argv(config_file, "serve"), network.netns, log_path)


def http(
    network: LabNetwork, path: str, token: str | None = None, method: str = "GET"
) -> tuple[int, str]:
    """(status, body) of a request to the lab server; status 0 when nothing
    answered. The token goes to curl on stdin, never on a command line."""
    # -g: an IPv6 lab's URL has brackets, which curl would take for a glob.
    argv = ["curl", "-gsS", "-o", "-", "-w", "\n%{http_code}", "-X", method, "--max-time", "10"]
    header = ""
    if token:
        argv += ["-H", "@-"]
        header = f"Authorization: Bearer {token}\n"
    argv.append(base_url(network) + path)
    try:
        output = run(argv, network.netns, input_text=header)
    except LabError:
        return 0, ""
    body, _, status = output.rpartition("\n")
    return int(status or 0), body


def api(network: LabNetwork, path: str, token: str) -> Any:
    status, body = http(network, "/api/v1" + path, token)
    if status != 200:
        raise LabError(f"GET /api/v1{path}: HTTP {status}: {body[:200]}")
    return json.loads(body)


def wait_ready(
    network: LabNetwork,
    process: subprocess.Popen[bytes] | None,
    log_path: Path,
    timeout: float = READY_TIMEOUT_SECONDS,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise LabError(f"bootsvc serve exited; last lines of {log_path}:\n{tail(log_path)}")
        status, _body = http(network, "/api/v1/openapi.json")
        if status == 200:
            return
        time.sleep(0.5)
    raise LabError(f"bootsvc did not answer within {timeout:.0f} s; see {log_path}")


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
