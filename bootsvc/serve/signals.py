"""SIGTERM and SIGINT taken by a thread that waits for them, not by a signal
handler. A handler that sets a threading.Event can hang its process for
good: a second SIGTERM (systemd signals every process of the unit, then the
supervisor signals its children) runs the handler again inside the first
one's `set()`, which waits on the lock the first one holds."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

Act = Callable[[signal.Signals], None]


def when_signalled(act: Act, *signals: signal.Signals) -> None:
    """Call `act` once, from a thread of its own, when one of `signals`
    arrives. From the main thread before it starts any other: threads
    inherit the blocked signals, so the waiting thread is the one that
    receives them."""
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    for signum in signals:
        # An inherited SIG_IGN would discard the signal before sigwait sees it.
        signal.signal(signum, signal.SIG_DFL)

    def wait() -> None:
        act(signal.Signals(signal.sigwait(signals)))

    threading.Thread(target=wait, name="signals", daemon=True).start()


def stop_event() -> threading.Event:
    """An event set on SIGTERM; `when_signalled`'s rule applies."""
    stop = threading.Event()
    when_signalled(lambda _signum: stop.set(), signal.SIGTERM)
    return stop


def unblock() -> None:
    """Undo `when_signalled` in a child that inherited its signal mask."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
