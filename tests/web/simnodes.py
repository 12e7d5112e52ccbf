"""Simulated nodes that behave like bootsvc's node agent, over HTTP only:
they ask /boot/desired, take a FleetLock slot, "reboot" (fetch their iPXE
script, report the kernel loaded and the system up), and give the slot back.
Every request comes from the node's own address and, after the script, with
the boot token it carries. A shared `Outage` counts how many are out at each
moment."""

from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient

from tests.support.factory import boot_token

_BOOTS = re.compile(r"^echo bootsvc: \S+ boots (\S+) (\S+)$", re.MULTILINE)
_KERNEL_REPORT = re.compile(r"imgfetch --name report (\S+)")


def fetch_boot_token(client: FlaskClient, mac: str, ip: str) -> str:
    """Fetch the node's script from its own address `ip`, as iPXE does when it
    boots, and return the boot token it carries."""
    answer = client.get(
        "/boot/node.ipxe", query_string={"mac": mac}, environ_base={"REMOTE_ADDR": ip}
    )
    assert answer.status_code == 200, answer.text
    return boot_token(answer.text)


@dataclass
class Outage:
    """Nodes between taking a slot and giving it back: down, or booting."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    out: set[str] = field(default_factory=set)
    most: int = 0
    reboots: list[tuple[str, str]] = field(default_factory=list)

    def enter(self, host: str, version: str) -> None:
        with self.lock:
            self.out.add(host)
            self.most = max(self.most, len(self.out))
            self.reboots.append((host, version))

    def leave(self, host: str) -> None:
        with self.lock:
            self.out.discard(host)


@dataclass
class SimNode:
    app: Flask
    hostname: str
    mac: str
    # The node's own address, on its CMDB interface.
    ip: str
    outage: Outage
    booted: str = ""
    # A broken version never reports up: the node's watchdog reboots it.
    broken: frozenset[str] = frozenset()
    # Chance, per look, of a reboot for some other reason (a firmware update):
    # such reboots compete for the same slots.
    spontaneous: float = 0.0
    refusals: int = 0
    client: FlaskClient = field(init=False)
    # This boot's token, from the node's last script.
    token: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self.client = self.app.test_client()
        self.client.environ_base["REMOTE_ADDR"] = self.ip

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def _fleetlock(self, operation: str, group: str) -> int:
        body = {"client_params": {"id": self.hostname, "group": group}}
        answer = self.client.post(
            f"/fleetlock/v1/{operation}",
            json=body,
            headers={"fleet-lock-protocol": "true", **self._auth()},
        )
        return answer.status_code

    def desired(self) -> dict[str, str]:
        answer = self.client.get(
            "/boot/desired", query_string={"mac": self.mac}, headers=self._auth()
        )
        assert answer.status_code == 200, answer.text
        return dict(line.split("=", 1) for line in answer.text.splitlines())

    def boot(self) -> str:
        """One boot as iPXE and the booted system do it; returns the version
        the node came up on (retrying while that version is broken)."""
        for _attempt in range(10):
            script = self.client.get("/boot/node.ipxe", query_string={"mac": self.mac}).text
            found = _BOOTS.search(script)
            assert found is not None, script
            image, version = found.groups()
            self.token = boot_token(script)
            kernel = _KERNEL_REPORT.search(script)
            assert kernel is not None, script
            url = urlsplit(kernel.group(1))
            assert self.client.get(f"{url.path}?{url.query}").status_code == 200
            if version in self.broken:
                continue
            report = {"mac": self.mac, "stage": "up", "image": image, "version": version}
            answer = self.client.post(
                "/boot/report", json={**report, "details": {"healthy": True}}, headers=self._auth()
            )
            assert answer.status_code == 200
            self.booted = version
            return version
        raise AssertionError(f"{self.hostname} never came up")

    def step(self, rng: random.Random) -> None:
        """What the agent's timer does once."""
        want = self.desired()
        wants_reboot = want["version"] and want["version"] != self.booted
        if not wants_reboot and rng.random() >= self.spontaneous:
            return
        if self._fleetlock("pre-reboot", want["fleetlock_group"]) != 200:
            self.refusals += 1
            return
        self.outage.enter(self.hostname, want["version"])
        time.sleep(rng.uniform(0, 0.02))
        self.boot()
        self.outage.leave(self.hostname)
        assert self._fleetlock("steady-state", want["fleetlock_group"]) == 200

    def run(self, stop: threading.Event, seed: int, errors: list[BaseException]) -> None:
        rng = random.Random(seed)
        try:
            while not stop.is_set():
                self.step(rng)
                time.sleep(rng.uniform(0.005, 0.03))
        except BaseException as exc:
            errors.append(exc)
            stop.set()


def run_fleet(nodes: list[SimNode], until: Any, timeout: float = 90.0) -> list[BaseException]:
    """Run every node's agent loop in a thread until `until()` is true."""
    stop = threading.Event()
    errors: list[BaseException] = []
    threads = [
        threading.Thread(target=node.run, args=(stop, seed, errors), daemon=True)
        for seed, node in enumerate(nodes)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    try:
        while not stop.is_set() and time.monotonic() < deadline and not until():
            time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    return errors
