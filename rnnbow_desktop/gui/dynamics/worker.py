"""Computing a session's dynamics off the GUI thread: a QThread that replays and embeds, reports progress and can be cancelled."""

from __future__ import annotations

import os
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QThread, Signal

from ...analysis.hidden_dynamics import HiddenDynamics
from ...analysis.hidden_trace import HiddenTrace
from ...core.errors import Cancelled, RnnbowError
from ...storage.reader import Session
from ...storage.session_dynamics import no_dynamics_reason, session_dynamics

PROGRESS_INTERVAL = 0.1  # seconds between progress signals: the bar needs no more than 10 a second


class SessionHandle:
    """A session file opened on first use and kept open between jobs, so following a growing file costs a
    refresh, not a re-open (with its pre-flight check) every few seconds.

    Used by one job at a time (the owner starts the next job only after the previous one finished);
    `close()` only when no job is running.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.session: Session | None = None
        self._stamp: tuple[int, int] | None = None  # (size, mtime) of the file when last looked at

    def get(self) -> Session:
        """The session, refreshed. Read-while-writing shows new rows but not the header, so a file that
        changed without growing (its writer closing it, marking it complete) is opened again."""
        if self.session is None:
            self.session = Session(self.path)
        elif not self.session.refresh() and not self.session.info.complete and self._file_stamp() != self._stamp:
            self.session.close()
            self.session = None
            self.session = Session(self.path)
        self._stamp = self._file_stamp()
        return self.session

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_size, st.st_mtime_ns

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None


@dataclass(frozen=True)
class DynamicsJob:
    """What to compute. `known` is the checkpoint count of the result on show: the same count in the file
    means nothing new, and the job ends at once. `reuse` is that result's trace (its slices are kept)."""

    generation: int
    handle: SessionHandle
    state: str = "h"
    known: int = -1
    reuse: HiddenTrace | None = None


@dataclass(frozen=True)
class DynamicsOutcome:
    """A finished job: a new result, or why there is none (`message`), or nothing new (both None/empty)."""

    generation: int
    path: Path
    checkpoints: int  # checkpoints in the file when it was read
    complete: bool  # the file was complete: it will not grow
    trace: HiddenTrace | None = None
    dynamics: HiddenDynamics | None = None
    message: str = ""


class DynamicsWorker(QThread):
    """Runs one DynamicsJob. Results arrive through signals declared Signal(object) (PySide6 mangles dict/tuple)."""

    progressed = Signal(object)  # (generation, fraction, text)
    finishedJob = Signal(object)  # DynamicsOutcome
    failed = Signal(object)  # (generation, message)
    cancelledJob = Signal(object)  # generation

    def __init__(self, job: DynamicsJob, parent=None):
        super().__init__(parent)
        self.job = job
        self._cancel = threading.Event()
        self._last_report = 0.0

    def cancel(self) -> None:
        """Stop at the next progress report (within a fraction of a second)."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def _progress(self, fraction: float, text: str) -> None:
        if self._cancel.is_set():
            raise Cancelled
        now = time.monotonic()
        if now - self._last_report >= PROGRESS_INTERVAL:
            self._last_report = now
            self.progressed.emit((self.job.generation, fraction, text))

    def run(self) -> None:  # QThread entry point
        job = self.job
        try:
            session = job.handle.get()
            count, complete = session.n_checkpoints, session.info.complete
            reason = no_dynamics_reason(session)
            if reason is not None:
                self.finishedJob.emit(DynamicsOutcome(job.generation, job.handle.path, count, complete, message=reason))
                return
            if count == job.known:
                self.finishedJob.emit(DynamicsOutcome(job.generation, job.handle.path, count, complete))
                return
            trace, dynamics = session_dynamics(session, state=job.state, reuse=job.reuse, progress=self._progress)
            self.finishedJob.emit(DynamicsOutcome(job.generation, job.handle.path, len(trace.checkpoints), complete,
                                                  trace, dynamics))
        except Cancelled:
            self.cancelledJob.emit(job.generation)
        except RnnbowError as exc:
            self.failed.emit((job.generation, str(exc)))
        except Exception as exc:  # noqa: BLE001 — a worker must report, never take the app down
            self.failed.emit((job.generation, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
