"""Image recipes (images/<name>/build.sh) and their builds: run, recorded in
the manifest, cached by their inputs. `bootsvc image build` and
`bootsvc lab image` both build through here."""

from __future__ import annotations

from bootsvc.errors import BootsvcError


class BuildError(BootsvcError):
    """A build did not finish; the message names the cause in one line."""

    code = "build"
