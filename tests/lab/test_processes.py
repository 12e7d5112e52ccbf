from __future__ import annotations

import signal
from pathlib import Path

from bootsvc.lab import processes


def test_a_started_process_is_known_by_its_directory_and_stopped(tmp_path: Path) -> None:
    lab = tmp_path / "lab" / "demo"
    # `sh -c CMD NAME`: NAME is only $0, a file in the lab directory.
    process = processes.start(
        ["sh", "-c", "sleep 60; :", str(lab / "bootsvc.toml")], None, lab / "logs" / "x.log"
    )
    assert processes.alive(process.pid)
    assert processes.names_dir(process.pid, lab)
    assert not processes.names_dir(process.pid, tmp_path / "lab" / "dem")
    assert not processes.names_dir(process.pid, tmp_path / "other")
    processes.stop([process.pid])
    assert not processes.alive(process.pid)
    assert (lab / "logs" / "x.log").exists()


def test_stop_kills_what_ignores_sigterm(tmp_path: Path) -> None:
    stubborn = processes.start(
        ["sh", "-c", f"trap '' {signal.SIGTERM.value}; while :; do sleep 0.1; done"],
        None,
        tmp_path / "log",
    )
    processes.stop([stubborn.pid], grace=0.5)
    assert not processes.alive(stubborn.pid)
