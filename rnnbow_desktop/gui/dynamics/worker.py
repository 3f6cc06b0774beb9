"""Computing a session's dynamics off the GUI thread: a QThread that replays and embeds, reports progress and can be cancelled.

The job reads through the session handle the window already has open (its RecordStore's), first and all at
once, then only computes. Why not a handle of its own: HDF5 shares one file between the handles a process
opens on it, and while two are open a growing file's new chunks are read stale from either (new
checkpoints and records stop appearing). Reading first, then signalling `released`, lets the owner close
or replace that handle a moment later, while the computation goes on with arrays only.
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass

from PySide6.QtCore import QThread, Signal

from ...analysis.hidden_dynamics import HiddenDynamics, embed_dynamics
from ...analysis.hidden_trace import HiddenTrace, build_trace
from ...core.errors import Cancelled, RnnbowError
from ...storage.reader import Session
from ...storage.session_dynamics import TRACE_SHARE, read_trace_inputs
from ..thread_priority import yield_to_the_window

PROGRESS_INTERVAL = 0.1  # seconds between progress signals: the bar needs no more than 10 a second
# Checkpoints the window embeds at most, spread over training (storage.session_dynamics.select_checkpoints).
# A live run checkpointing often reaches hundreds; every one costs a replay and adds its units to the
# embedding, and twenty to forty already show the phases. The command line takes all unless told otherwise.
WINDOW_CHECKPOINTS = 40


@dataclass(frozen=True)
class DynamicsJob:
    """What to compute: the dynamics of `session` (read, never refreshed, by the job), tagged `generation`.
    `reuse` is an earlier trace of the same session and state: its checkpoints are neither read nor replayed."""

    generation: int
    session: Session
    state: str = "h"
    reuse: HiddenTrace | None = None


@dataclass(frozen=True)
class DynamicsOutcome:
    """A finished job's result, and how many checkpoints the file had (the result may use some of them)."""

    generation: int
    checkpoints: int
    trace: HiddenTrace
    dynamics: HiddenDynamics


class DynamicsWorker(QThread):
    """Runs one DynamicsJob. Results arrive through signals declared Signal(object) (PySide6 mangles dict/tuple)."""

    progressed = Signal(object)  # (generation, fraction, text)
    finishedJob = Signal(object)  # DynamicsOutcome
    failed = Signal(object)  # (generation, message)
    cancelledJob = Signal(object)  # generation

    def __init__(self, job: DynamicsJob, parent=None):
        super().__init__(parent)
        self.job = job
        self.released = threading.Event()  # set once the job will not touch the session again
        self._cancel = threading.Event()
        self._last_report = 0.0

    def cancel(self) -> None:
        """Stop at the next progress report (within a fraction of a second)."""
        self._cancel.set()

    def release(self) -> None:
        """Cancel, and return once the session is no longer read (the reading is short: it is the replay
        and the embedding that take long)."""
        self.cancel()
        self.released.wait()

    def _progress(self, fraction: float, text: str) -> None:
        if self._cancel.is_set():
            raise Cancelled
        now = time.monotonic()
        if now - self._last_report >= PROGRESS_INTERVAL:
            self._last_report = now
            self.progressed.emit((self.job.generation, fraction, text))

    def run(self) -> None:  # QThread entry point
        yield_to_the_window()
        job = self.job
        try:
            try:
                self._progress(0.0, "reading the checkpoints")
                inputs = read_trace_inputs(job.session, state=job.state, max_checkpoints=WINDOW_CHECKPOINTS,
                                           reuse=job.reuse)
            finally:
                self.released.set()
            trace = build_trace(inputs.cell, inputs.checkpoints, inputs.ids, job.state, reuse=job.reuse,
                                progress=lambda f, t: self._progress(TRACE_SHARE * f, t))
            dynamics = embed_dynamics(trace, progress=lambda f, t: self._progress(TRACE_SHARE + (1 - TRACE_SHARE) * f, t))
            self.finishedJob.emit(DynamicsOutcome(job.generation, inputs.checkpoint_count, trace, dynamics))
        except Cancelled:
            self.cancelledJob.emit(job.generation)
        except RnnbowError as exc:
            self.failed.emit((job.generation, str(exc)))
        except Exception as exc:  # noqa: BLE001 — a worker must report, never take the app down
            self.failed.emit((job.generation, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
