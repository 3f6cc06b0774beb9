"""Progress of long headless work on stderr: a bar redrawn in place on a terminal, a plain line every few seconds elsewhere.

Under a pipe or in a log, carriage returns and redraws are noise; a line every `every` seconds (and
one at the end) tells a reader of the log how far the work got.
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import TextIO


def format_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """`update(done, text)` as often as you like; it draws at most every `interval` (terminal) or `every` seconds."""

    def __init__(self, total: int | None, label: str = "", stream: TextIO | None = None,
                 every: float = 5.0, interval: float = 0.25, enabled: bool = True):
        self.total = total
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled and self.stream is not None
        self.live = self.enabled and _is_terminal(self.stream)
        self.every = interval if self.live else every
        self.start = time.monotonic()
        self._last = -float("inf")
        self._drawn = False

    def restart(self, total: int | None, label: str) -> None:
        self.total, self.label = total, label
        self.start = time.monotonic()
        self._last = -float("inf")

    def update(self, done: int, text: str = "", force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self.every:
            return
        self._last = now
        line = self._line(done, text, now)
        if self.live:
            width = shutil.get_terminal_size((80, 24)).columns
            self.stream.write("\r" + line[: width - 1].ljust(width - 1))
            self._drawn = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def _line(self, done: int, text: str, now: float) -> str:
        elapsed = now - self.start
        head = f"{self.label} " if self.label else ""
        if self.total:
            share = min(1.0, done / self.total)
            eta = (self.total - done) * elapsed / done if done else float("nan")
            left = f"{format_duration(eta)} left" if done else "…"
            if self.live:
                bar_width = 24
                filled = int(round(share * bar_width))
                head += f"[{'#' * filled}{'.' * (bar_width - filled)}] "
            return f"{head}{share:4.0%}  {done:,}/{self.total:,}  {text}  {left}".rstrip()
        return f"{head}{done:,}  {text}  {format_duration(elapsed)} elapsed".rstrip()

    def close(self) -> None:
        """End the bar's line on a terminal, so what follows starts on a fresh one."""
        if self.live and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False
