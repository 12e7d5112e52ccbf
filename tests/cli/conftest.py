from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from bootsvc.cli import cli
from bootsvc.store.db import Database

Run = Callable[..., Result]


@pytest.fixture
def env(data_dir: Path, db: Database) -> dict[str, str]:
    return {"BOOTSVC_DATA_DIR": str(data_dir), "BOOTSVC_DATABASE_URL": db.url}


@pytest.fixture
def run(env: dict[str, str]) -> Run:
    """Run a bootsvc command in-process; fail the test if the exit code differs."""
    runner = CliRunner()

    def invoke(*args: str, code: int = 0, **kwargs: Any) -> Result:
        result = runner.invoke(cli, list(args), env=env, catch_exceptions=False, **kwargs)
        assert result.exit_code == code, result.output
        return result

    return invoke


@pytest.fixture
def run_process(env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run bootsvc as a real process, as a user would."""

    def invoke(*args: str) -> subprocess.CompletedProcess[str]:
        import os

        return subprocess.run(
            [sys.executable, "-m", "bootsvc", *args],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return invoke
