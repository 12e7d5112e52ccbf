"""bootsvc image kickstart: a rendered kickstart on stdout or in a file, and
bad input as one line on stderr with no file written. No database involved."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from bootsvc.cli import cli


def test_writes_the_kickstart_to_a_file(tmp_path: Path) -> None:
    output = tmp_path / "hv.ks"
    args = ["image", "kickstart", "el9-hypervisor", "--version", "7", "--output", str(output)]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    text = output.read_text()
    assert text.startswith("# el9-hypervisor 7:")
    assert "printf 'IMAGE=%s\\nVERSION=%s\\n' 'el9-hypervisor' '7'" in text
    assert [path.name for path in tmp_path.iterdir()] == ["hv.ks"]


def test_prints_the_kickstart_without_output() -> None:
    args = ["image", "kickstart", "el9-hypervisor", "--version", "7", "--image", "hv"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "printf 'IMAGE=%s\\nVERSION=%s\\n' 'hv' '7'" in result.output


def test_bad_version_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    output = tmp_path / "hv.ks"
    args = ["image", "kickstart", "el9-hypervisor", "--version", "a b", "--output", str(output)]
    result = subprocess.run(
        [sys.executable, "-m", "bootsvc", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "Error: 'a b' is not a valid version (letters, digits and . _ + -, at most 64)"
    ]
    assert list(tmp_path.iterdir()) == []
