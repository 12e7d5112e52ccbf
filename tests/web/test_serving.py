"""The boot path through the production server: what iPXE does, step by step."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from bootsvc.core.boot import reports
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from tests.support import factory
from tests.support.live import live_server

MAC = "52:54:00:5e:00:01"
UUID = "4c4c4544-0042-3510-8052-b4c04f4e4b32"
SERIAL = "CZ 42/7"


def expand_ipxe(line: str) -> str:
    """Fill in the settings iPXE would, for the machine under test."""
    values = {
        "${mac:hexhyp}": MAC.replace(":", "-"),
        "${mac}": MAC,
        "${uuid}": UUID,
        "${serial:uristring}": quote(SERIAL, safe=""),
        "${asset:uristring}": "",
        "${buildarch}": "x86_64",
        "${platform}": "efi",
    }
    for name, value in values.items():
        line = line.replace(name, value)
    assert "${" not in line, line
    return line


@pytest.fixture
def booting(db: Database, store: ArtifactStore) -> dict[str, bytes]:
    kernel, initrd = os.urandom(3 << 20), os.urandom(5 << 20)
    kernel_ref = factory.blob(store, "vmlinuz", kernel)
    initrd_ref = factory.blob(store, "initrd.img", initrd)
    from bootsvc.core.catalog import catalog

    with db.write() as session:
        catalog.add_version(
            session, "hv", "7", kernel_ref, [initrd_ref], None, "console=ttyS0", "", "t"
        )
    factory.promote(db, store, "hv", "7")
    factory.node(db, hostname="hv1", interfaces=[{"mac": MAC}], image="hv@stable")
    # hv1 boots at 127.0.0.1, the address bootsvc leased to it.
    factory.lease(db, "127.0.0.1", MAC)
    return {"vmlinuz": kernel, "initrd.img": initrd}


def test_ipxe_boot_path(db: Database, data_dir: Path, booting: dict[str, bytes]) -> None:
    with live_server(data_dir, db.url) as server:
        first = requests.get(f"{server.url}/boot.ipxe", timeout=10)
        assert first.status_code == 200 and first.text.startswith("#!ipxe")
        chain = next(line for line in first.text.splitlines() if line.startswith("chain "))
        node_url = expand_ipxe(chain.split()[2])
        script = requests.get(node_url, timeout=10).text
        kernel_line = next(line for line in script.splitlines() if line.startswith("kernel "))
        initrd_line = next(line for line in script.splitlines() if line.startswith("initrd "))
        assert "initrd=initrd.img" in kernel_line
        urls = {"vmlinuz": kernel_line.split()[3], "initrd.img": initrd_line.split()[3]}
        for name, url in urls.items():
            content = booting[name]
            digest = hashlib.sha256(content).hexdigest()
            whole = requests.get(url, timeout=30)
            assert whole.status_code == 200
            assert whole.headers["Content-Length"] == str(len(content))
            assert whole.headers["ETag"] == f'"{digest}"'
            assert "immutable" in whole.headers["Cache-Control"]
            assert hashlib.sha256(whole.content).hexdigest() == digest
            pieces = []
            step = 1 << 20
            for start in range(0, len(content), step):
                end = min(start + step, len(content)) - 1
                part = requests.get(url, headers={"Range": f"bytes={start}-{end}"}, timeout=30)
                assert part.status_code == 206
                assert part.headers["Content-Range"] == f"bytes {start}-{end}/{len(content)}"
                pieces.append(part.content)
            assert hashlib.sha256(b"".join(pieces)).hexdigest() == digest
            tail = requests.get(url, headers={"Range": "bytes=-100"}, timeout=10)
            assert tail.status_code == 206 and tail.content == content[-100:]
            head = requests.head(url, timeout=10)
            assert head.headers["Content-Length"] == str(len(content)) and head.content == b""
            cached = requests.get(url, headers={"If-None-Match": f'"{digest}"'}, timeout=10)
            assert cached.status_code == 304 and cached.content == b""
            beyond = requests.get(url, headers={"Range": f"bytes={len(content)}-"}, timeout=10)
            assert beyond.status_code == 416
            assert beyond.headers["Content-Range"] == f"bytes */{len(content)}"
        report_line = next(line for line in script.splitlines() if line.startswith("imgfetch"))
        report_url = report_line.split()[3]
        assert requests.get(report_url, timeout=10).text == "ok\n"
        log = server.log_text()
    with db.read() as session:
        stages = [(r.node, r.stage, r.version) for r in reports.recent(session, "hv1")]
    assert stages == [("hv1", "kernel-loaded", "7"), ("hv1", "script", "7")]
    script_line = next(line for line in log.splitlines() if "event=boot.script" in line)
    assert (
        f"mac={MAC}" in script_line
        and "ip=127.0.0.1" in script_line
        and "stage=script" in script_line
    )
    artifact_lines = [line for line in log.splitlines() if "event=http.artifact" in line]
    assert artifact_lines and all(f"mac={MAC}" in line for line in artifact_lines)


def test_artifact_names_cannot_escape(
    db: Database, data_dir: Path, booting: dict[str, bytes]
) -> None:
    with live_server(data_dir, db.url) as server:
        for path in (
            "/artifacts/../../etc/passwd",
            "/artifacts/%2e%2e/%2e%2e/etc/passwd",
            "/artifacts/" + "0" * 64 + "/vmlinuz",
            "/artifacts/not-a-digest/vmlinuz",
            "/artifacts/" + hashlib.sha256(booting["vmlinuz"]).hexdigest() + "/..%2f..%2fpasswd",
        ):
            response = requests.get(server.url + path, timeout=10)
            assert response.status_code == 404, path


def threads(pids: list[int]) -> list[int]:
    """Every thread of the processes: `strace -p` traces only the thread it
    names, and a gthread worker may already hold pool threads from the
    readiness probe, which `-f` does not pick up."""
    return [int(task.name) for pid in pids for task in Path(f"/proc/{pid}/task").iterdir()]


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is installed by scripts/test.sh")
def test_artifacts_go_out_by_sendfile(
    db: Database, data_dir: Path, booting: dict[str, bytes]
) -> None:
    """The body never passes through Python: the kernel copies it with sendfile."""
    trace = data_dir / "strace.out"
    content = booting["initrd.img"]
    digest = hashlib.sha256(content).hexdigest()
    with live_server(data_dir, db.url) as server:
        pids = [f"-p{tid}" for tid in threads(descendants(server.process.pid))]

        command = ["strace", "-f", "-qq", "-e", "trace=sendfile", "-o", str(trace), *pids]
        tracer = subprocess.Popen(command, stderr=subprocess.PIPE)
        try:
            url = f"{server.url}/artifacts/{digest}/initrd.img"
            time.sleep(1)
            assert hashlib.sha256(requests.get(url, timeout=30).content).hexdigest() == digest
            part = requests.get(url, headers={"Range": "bytes=1000-1999"}, timeout=10)
            assert part.content == content[1000:2000]
        finally:
            tracer.terminate()
            tracer.wait(timeout=10)
    calls = re.findall(
        r"sendfile\(\d+, \d+, \[(\d+)\] => \[\d+\], (\d+)\) = (\d+)", trace.read_text()
    )
    sent_whole = sum(int(sent) for offset, _count, sent in calls if offset != "1000")
    assert sent_whole == len(content)
    assert ("1000", "1000", "1000") in calls
