"""Stop signals for long headless work: Ctrl+C, `kill` and a closed terminal set a flag checked between batches.

A KeyboardInterrupt raised in the middle of writing a block, or of closing the file, would leave the
session half-written; so a stop request only sets a flag that the work checks between batches.
"""

from __future__ import annotations

import signal


def stop_signals() -> list:
    """Signals that ask a headless run to stop: Ctrl+C, `kill`, a closed terminal."""
    names = ("SIGINT", "SIGTERM", "SIGHUP")
    return [getattr(signal, name) for name in names if hasattr(signal, name)]


class StopRequests:
    """While active (`with StopRequests() as stop:`), stop signals set `stop.signal` instead of interrupting.

    On leaving, after a stop request, further stop signals are ignored, not handled: at exit Python resets
    signals with Python handlers to the default, and a second Ctrl+C arriving then (a small run closes in
    milliseconds) would kill the process by SIGINT instead of ending with the message. Without a stop
    request the previous handlers come back (the demo's window follows), unless `ignore_after` is set.
    """

    def __init__(self, ignore_after: bool = False):
        self.signal: int | None = None
        self.ignore_after = ignore_after
        self._previous: dict = {}

    @property
    def requested(self) -> bool:
        return self.signal is not None

    def _on_signal(self, signum, _frame) -> None:
        self.signal = signum

    def __enter__(self) -> "StopRequests":
        self._previous = {sig: signal.signal(sig, self._on_signal) for sig in stop_signals()}
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, signal.SIG_IGN if self.ignore_after or self.requested else handler)
