"""Running a recipe's build.sh into the build cache.

Only a finished build with its build record enters the cache: the recipe
writes into a partial directory that is renamed into place at the end, and
removed on any failure or interrupt (Ctrl-C, SIGTERM), together with the
build's whole process group.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from bootsvc.core.cmdb import names
from bootsvc.errors import BootsvcError, InvalidInput
from bootsvc.hosttools import require_tools
from bootsvc.images import BuildError, buildrecord, failures, recipes

MANIFEST = "manifest.yaml"
LOG = "build.log"
# How often the progress callback hears from a running build.
TICK_SECONDS = 0.25
# How long a build's processes get to exit after SIGTERM before SIGKILL.
STOP_SECONDS = 10.0

_URL = re.compile(r"^[a-z][a-z0-9+.-]*://[^\s,]+$")
_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")

# Called with the seconds a build has run and the last line it printed.
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class BuildRequest:
    recipe: str
    version: str
    kernel_package: str | None = None
    mirror: str | None = None
    extra_packages: tuple[str, ...] = ()

    def check(self) -> None:
        """Refuse what a recipe would misread: its options go to build.sh,
        then to apt or mmdebstrap lists."""
        names.object_name(self.version, "version")
        if self.mirror is not None and not _URL.match(self.mirror):
            raise InvalidInput(f"--mirror {self.mirror!r}: not a URL")
        for package in self.extra_packages:
            if not _PACKAGE.match(package):
                raise InvalidInput(f"--extra-package {package!r}: not a Debian package name")

    def recipe_options(self) -> list[str]:
        """The options forwarded to build.sh only when given."""
        options = ["--mirror", self.mirror] if self.mirror else []
        for package in self.extra_packages:
            options += ["--extra-package", package]
        return options


@dataclass(frozen=True)
class Build:
    manifest: Path
    cached: bool
    seconds: float

    @property
    def directory(self) -> Path:
        return self.manifest.parent


class _Terminated(Exception):
    """SIGTERM arrived while a build ran."""


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM unwinds a build as Ctrl-C does, so its cleanup runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(_signum: int, _frame: object) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Output(threading.Thread):
    """Copies the build's output to its log and remembers the last line."""

    def __init__(self, stream: IO[bytes], log: IO[bytes]) -> None:
        super().__init__(daemon=True)
        self.stream, self.log = stream, log
        self.last = ""

    def run(self) -> None:
        # The pipe and the log close under this thread if a process the
        # build left behind outlives the wait for it.
        with suppress(OSError, ValueError):
            for raw in self.stream:
                self.log.write(raw)
                line = raw.decode(errors="replace").strip()
                if line:
                    self.last = line


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the build's process group, SIGKILL if build.sh outlives it."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(STOP_SECONDS)
            return
        except subprocess.TimeoutExpired:
            continue


def _run(argv: Sequence[str], log_path: Path, progress: Progress | None) -> int:
    """Run build.sh in its own process group (so that it can be stopped
    whole), its output into `log_path`; return its exit status."""
    started = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        stdout = cast(IO[bytes], process.stdout)
        output = _Output(stdout, log)
        output.start()
        try:
            while process.poll() is None:
                with suppress(subprocess.TimeoutExpired):
                    process.wait(TICK_SECONDS)
                if progress is not None:
                    progress(time.monotonic() - started, output.last)
        finally:
            # Also what the build left running in its group, which would
            # hold the pipe open.
            _stop(process)
            output.join(STOP_SECONDS)
            stdout.close()
    return process.returncode


def _failure(what: str, status: int, log_path: Path, mirror: str | None) -> BuildError:
    lines = log_path.read_text(errors="replace").splitlines()
    reason = failures.cause(lines, mirror)
    if reason is None and status == 0:
        reason = f"build.sh wrote no {MANIFEST}"
    if reason is None:
        last = next((line.strip() for line in reversed(lines) if line.strip()), "no output")
        reason = f"exit status {status}: {last}"
    return BuildError(f"building {what} failed: {reason} (output in {log_path})")


def build(
    request: BuildRequest,
    cache_dir: Path,
    recipes_dir: Path | None = None,
    echo: Callable[[str], None] | None = None,
    progress: Progress | None = None,
) -> Build:
    """The build of `request`, made now or found in the cache."""
    request.check()
    recipe = recipes.find(request.recipe, recipes_dir or recipes.default_dir())
    require_tools(recipes.TOOLS.get(recipe.name, {}))
    kernel = request.kernel_package or recipes.kernel_package(recipe.name)
    options = request.recipe_options()
    key = recipes.input_key(recipe, request.version, kernel, options)
    target = cache_dir / "images" / recipe.name / f"{request.version}-{key[:20]}"
    if (target / MANIFEST).is_file():
        return Build(target / MANIFEST, cached=True, seconds=0.0)
    what = f"{recipe.name} {request.version}"
    if echo is not None:
        echo(f"building image {what} (cached afterwards in {target})")
    partial = cache_dir / "partial" / f"{recipe.name}-{target.name}-{os.getpid()}"
    log_path = cache_dir / "logs" / f"{recipe.name}-{request.version}.log"
    recipe_cache = cache_dir / "recipes" / recipe.name
    argv = [
        "bash",
        str(recipe.script),
        "--version",
        request.version,
        "--out",
        str(partial),
        "--kernel-package",
        kernel,
        "--debs",
        str(cache_dir / "debs"),
        "--cache",
        str(recipe_cache),
        *options,
    ]
    started = time.monotonic()
    try:
        with _sigterm_interrupts():
            shutil.rmtree(partial, ignore_errors=True)
            for directory in (log_path.parent, recipe_cache, partial.parent):
                directory.mkdir(parents=True, exist_ok=True)
            status = _run(argv, log_path, progress)
            if status != 0 or not (partial / MANIFEST).is_file():
                raise _failure(what, status, log_path, request.mirror)
            try:
                buildrecord.add_to_manifest(partial / MANIFEST, recipe.name, key)
            except BootsvcError as exc:
                raise BuildError(f"building {what} failed: {exc.message}") from None
            log_path.replace(partial / LOG)
            _publish(partial, target)
    except (KeyboardInterrupt, _Terminated):
        raise BuildError(f"building {what} interrupted; nothing was kept") from None
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise BuildError(f"building {what} failed: no space left on device ({exc})") from None
        raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return Build(target / MANIFEST, cached=False, seconds=time.monotonic() - started)


def _publish(partial: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        partial.rename(target)
    except OSError as exc:
        # Another build of the same inputs finished first; its result is as good.
        if not (target / MANIFEST).is_file():
            raise exc from None
