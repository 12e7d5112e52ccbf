"""The vagrant lab's tests run bootsvc commands like the CLI's tests."""

from tests.cli.conftest import env, run

__all__ = ["env", "run"]
