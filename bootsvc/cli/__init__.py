"""The `bootsvc` command. Every verb of the API has a twin here; both call
the same domain functions. Errors are one line on stderr and a non-zero exit."""

from __future__ import annotations

import getpass
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import OperationalError

from bootsvc.errors import BootsvcError
from bootsvc.serve.address import with_advertise_url
from bootsvc.settings import Settings, load_settings
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database


@dataclass
class App:
    """Settings, database and store, opened on first use."""

    config: Path | None
    flags: dict[str, Any]
    _settings: Settings | None = field(default=None, init=False)
    _db: Database | None = field(default=None, init=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = with_advertise_url(load_settings(self.config, self.flags))
        return self._settings

    def override(self, **flags: Any) -> None:
        self.flags.update({key: value for key, value in flags.items() if value is not None})
        self._settings = None

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = Database(self.settings.effective_database_url)
        return self._db

    @property
    def store(self) -> ArtifactStore:
        return ArtifactStore(self.settings.data_dir)

    @property
    def actor(self) -> str:
        return "cli:" + (os.environ.get("SUDO_USER") or getpass.getuser())


# How a shell reports a program that SIGPIPE ended (128 + 13), as `head`
# leaves the programs before it.
CLOSED_PIPE = 141


def _closed_pipe() -> int:
    """The reader of our output went away (`| head`). What is still buffered
    goes nowhere rather than to an error at exit (the Python documentation's
    note on SIGPIPE)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return CLOSED_PIPE


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _usage_line(exc: click.UsageError) -> click.ClickException:
    where = exc.ctx.command_path if exc.ctx else "bootsvc"
    return click.ClickException(f"{_one_line(exc.format_message())} (see {where} --help)")


class Cli(click.Group):
    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        """The top level's own options (--config, --data-dir) are parsed
        here, before invoke: their errors are one line too."""
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:
            raise _usage_line(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BootsvcError as exc:
            raise click.ClickException(_one_line(exc.message)) from None
        except OperationalError as exc:
            raise click.ClickException("database: " + _one_line(str(exc.orig))) from None
        except click.exceptions.NoArgsIsHelpError:
            # `bootsvc node`: the help the user asked for, not an error line.
            raise
        except click.UsageError as exc:
            raise _usage_line(exc) from None

        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:
            raise click.exceptions.Exit(_closed_pipe()) from None
        except Exception as exc:
            if os.environ.get("BOOTSVC_DEBUG"):
                raise
            message = f"internal error: {type(exc).__name__}: {_one_line(str(exc))}"
            raise click.ClickException(message + " (BOOTSVC_DEBUG=1 shows the traceback)") from None


@click.group(cls=Cli)
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Settings file (TOML). Default: $BOOTSVC_CONFIG or /etc/bootsvc/bootsvc.toml.",
)
@click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), help="Data directory."
)
@click.option("--database-url", help="SQLAlchemy URL; SQLite in the data directory by default.")
@click.version_option(package_name="bootsvc")
@click.pass_context
def cli(
    ctx: click.Context, config: Path | None, data_dir: Path | None, database_url: str | None
) -> None:
    """bootsvc: network boot for diskless KVM hypervisor clusters."""
    ctx.obj = App(config, {"data_dir": data_dir, "database_url": database_url})


def _register() -> None:
    from bootsvc.cli import (
        cluster_cmd,
        dhcp_cmd,
        events_cmd,
        image_cmd,
        install_cmd,
        kickstart_cmd,
        node_cmd,
        node_render_cmd,
        node_script_cmd,
        serve_cmd,
        token_cmd,
    )

    for module in (
        serve_cmd,
        image_cmd,
        kickstart_cmd,
        node_cmd,
        node_render_cmd,
        node_script_cmd,
        cluster_cmd,
        token_cmd,
        events_cmd,
        dhcp_cmd,
        install_cmd,
    ):
        for command in module.COMMANDS:
            cli.add_command(command)
    from bootsvc.cli import lab_cmd

    cli.add_command(lab_cmd.lab)
    from bootsvc.cli import fleet_cmd, rollout_cmd

    for command in rollout_cmd.COMMANDS + fleet_cmd.COMMANDS:
        cli.add_command(command)


_register()


def main() -> None:
    try:
        cli(prog_name="bootsvc")
    finally:
        # Output still buffered when the command ends meets a closed pipe here.
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            sys.exit(_closed_pipe())
