"""A service stops on SIGTERM however many arrive and whenever they arrive:
systemd signals every process of the unit, and the supervisor signals its
children again right after."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

# SIGTERMs while the main thread holds the stop event's own lock, as it does
# for a moment in every `wait()`. A signal handler that set the event would
# wait on that lock for ever; the last line would never be printed.
WHILE_WAITING = textwrap.dedent(
    """
    import os, signal
    from bootsvc.serve import signals

    stop = signals.stop_event()
    with stop._cond:
        for _ in range(3):
            os.kill(os.getpid(), signal.SIGTERM)
    print("stopped" if stop.wait(10) else "still running", flush=True)
    """
)


def _ignore_sigterm() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _python(script: str, ignore_sigterm: bool = False) -> tuple[int, str, str]:
    """Exit status, output and errors of `script` in a process of its own."""
    done = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
        preexec_fn=_ignore_sigterm if ignore_sigterm else None,
    )
    return done.returncode, done.stdout.strip(), done.stderr


@pytest.mark.parametrize("inherited", ["default", "ignored"])
def test_sigterms_while_the_service_waits_stop_it(inherited: str) -> None:
    """Also when the service was started with SIGTERM ignored, as the
    supervisor's fork server has it."""
    assert _python(WHILE_WAITING, inherited == "ignored") == (0, "stopped", "")


SUPERVISED = textwrap.dedent(
    """
    import os, signal, threading
    from bootsvc.serve import signals

    heard = []
    stop = threading.Event()
    signals.when_signalled(lambda signum: (heard.append(signum.name), stop.set()),
                           signal.SIGINT, signal.SIGTERM)
    os.kill(os.getpid(), signal.SIGINT)
    stop.wait(10)
    os.kill(os.getpid(), signal.SIGTERM)
    print(",".join(heard), flush=True)
    """
)


def test_the_first_signal_is_acted_on_once_and_later_ones_change_nothing() -> None:
    """The supervisor logs the signal that stopped it; a later SIGTERM
    neither kills it nor runs the action again while it stops its children."""
    assert _python(SUPERVISED) == (0, "SIGINT", "")
