"""Computing the Units view's results off the GUI thread: one QThread that replays, correlates, counts n-grams and
re-trains batches, newest request first, cancellable at every progress report.

The GUI submits jobs; a job replaces any not yet started job of its kind and cancels a running one of its
kind at its next progress report. Results carry the job's generation, and the GUI drops any that is not
the newest of its kind. The worker keeps the session file open between jobs (a growing file is refreshed,
not re-opened) and caches what is costly and reusable: the default probe, the n-gram, recent replays and
per-unit gradients.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import QThread, Signal

from ...analysis.ngram import memory_gain
from ...analysis.replay import Replay
from ...analysis.unit_finder import FeatureCorrelations, TrainingCurve, best_over_training
from ...analysis.unit_report import UnitReport, feature_report, unit_report
from ...api.session import OpenSession
from ...api.unit_gradients import UnitGradients
from ...api.units import NgramBaseline, probe_ngram, probe_text
from ...core.errors import Cancelled, RnnbowError

PROGRESS_INTERVAL = 0.1  # seconds between progress signals
# A reader keeps the header it opened with, so a file that stopped growing is opened afresh to see whether its
# writer closed it: after 4, 8, 16, … looks that found nothing new (a paused run is not re-opened every time).
FIRST_QUIET_REOPEN = 4
_REPLAYS_KEPT = 6
_GRADIENTS_KEPT = 8

# Kinds of job, in the order the worker takes them when several wait.
CHECKPOINTS, REPORT, GRADIENTS, CURVE = "checkpoints", "report", "gradients", "curve"
KINDS = (CHECKPOINTS, REPORT, GRADIENTS, CURVE)


@dataclass(frozen=True)
class Job:
    """What to compute for the session at `path`.

    checkpoints: the checkpoint list. report: the unit report at `checkpoint` (None: the last) over
    `text` (None: the default probe), first without and then with the n-gram of `ngram_order` (0: none).
    gradients: the per-unit gradients of training batch `batch`. curve: the best |r| per feature at every
    checkpoint.
    """

    kind: str
    generation: int
    path: Path
    checkpoint: int | None = None
    text: str | None = None
    features: tuple[tuple[str, str], ...] = ()
    ngram_order: int = 0
    batch: int = 0
    reopen: bool = False  # open the file afresh: a reader keeps the header it opened with ("complete" included)


@dataclass(frozen=True)
class CheckpointList:
    checkpoints: tuple[int, ...]
    complete: bool  # the writer closed the file: no more checkpoints will come
    has_model: bool  # a model RNNbow can replay (False for a recorded PyTorch module)


@dataclass(frozen=True)
class Outcome:
    """A finished job. `value`: CheckpointList, UnitReport (`final` False while the n-gram is still counted),
    UnitGradients or TrainingCurve."""

    kind: str
    generation: int
    path: Path
    value: object
    final: bool = True
    seconds: float = 0.0


@dataclass(frozen=True)
class Failure:
    kind: str
    generation: int
    message: str


class UnitsWorker(QThread):
    """The Units view's one worker thread; `submit` from the GUI thread, results through Signal(object)."""

    progressed = Signal(object)  # (kind, generation, fraction, text)
    finishedJob = Signal(object)  # Outcome
    failed = Signal(object)  # Failure
    cancelledJob = Signal(object)  # (kind, generation)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._lock = threading.Condition()
        self._pending: dict[str, Job] = {}
        self._newest: dict[str, int] = {}
        self._stopping = False
        self._last_report = 0.0
        # Touched by the worker thread only:
        self._session: OpenSession | None = None
        self._quiet = 0  # looks at the open file in a row that found nothing new
        self._probes: dict[Path, str] = {}
        self._ngrams: dict[tuple, NgramBaseline] = {}
        self._replays: OrderedDict[tuple, Replay] = OrderedDict()
        self._gradients: OrderedDict[int, UnitGradients] = OrderedDict()
        # r of every unit with every feature, per (checkpoint, probe, features): small (S × H × F floats), so
        # following a growing run replays only its new checkpoints for the curve.
        self._correlations: dict[tuple, FeatureCorrelations] = {}

    # -- from the GUI thread --------------------------------------------------------------------------
    def submit(self, job: Job) -> None:
        with self._lock:
            self._pending[job.kind] = job
            self._newest[job.kind] = job.generation
            self._lock.notify()
        if not self.isRunning():
            self.start()

    def cancel(self, kind: str, generation: int) -> None:
        """Drop a waiting job of `kind` and stop a running one at its next progress report."""
        with self._lock:
            self._pending.pop(kind, None)
            self._newest[kind] = generation

    def stop(self) -> None:
        """End the thread after the current job's next progress report; wait for it."""
        with self._lock:
            self._stopping = True
            self._pending.clear()
            self._lock.notify()
        self.wait()

    # -- the worker thread ----------------------------------------------------------------------------
    def run(self) -> None:  # QThread entry point
        try:
            while True:
                with self._lock:
                    while not self._pending and not self._stopping:
                        self._lock.wait()
                    if self._stopping:
                        return
                    kind = next(k for k in KINDS if k in self._pending)
                    job = self._pending.pop(kind)
                self._run_job(job)
        finally:
            self._close()

    def _current(self, job: Job) -> bool:
        with self._lock:
            return not self._stopping and self._newest.get(job.kind) == job.generation

    def _progress_for(self, job: Job):
        def progress(fraction: float, text: str) -> None:
            if not self._current(job):
                raise Cancelled
            now = time.monotonic()
            if now - self._last_report >= PROGRESS_INTERVAL:
                self._last_report = now
                self.progressed.emit((job.kind, job.generation, fraction, text))

        return progress

    def _run_job(self, job: Job) -> None:
        started = time.perf_counter()
        progress = self._progress_for(job)
        try:
            progress(0.0, "opening the session")
            session = self._open(job.path, job.reopen)
            if job.kind == CHECKPOINTS:
                quiet = self._quiet
                if not session.complete and quiet >= FIRST_QUIET_REOPEN and quiet & (quiet - 1) == 0:
                    session = self._open(job.path, reopen=True)
                value = CheckpointList(session.checkpoints, session.complete, _has_model(session))
            elif job.kind == GRADIENTS:
                value = self._unit_gradients(session, job, progress)
            elif job.kind == CURVE:
                value = self._curve(session, job, progress)
            else:
                report = self._report(session, job, progress, started)
                if report is None or not job.ngram_order:
                    return
                value = self._with_ngram(session, job, report, progress)
            self.finishedJob.emit(Outcome(job.kind, job.generation, job.path, value, True, time.perf_counter() - started))
        except Cancelled:
            self.cancelledJob.emit((job.kind, job.generation))
        except (RnnbowError, KeyError) as exc:
            self.failed.emit(Failure(job.kind, job.generation, exc.args[0] if exc.args else str(exc)))
        except Exception as exc:  # noqa: BLE001 — a worker must report, never take the app down
            self.failed.emit(Failure(job.kind, job.generation, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))

    # -- the jobs -------------------------------------------------------------------------------------
    def _open(self, path: Path, reopen: bool = False) -> OpenSession:
        if self._session is not None and self._session.path != path:
            self._close()
        elif self._session is not None and reopen:
            self._session.close()  # the same file: what was computed from it stays valid
            self._session = None
        if self._session is None:
            self._session = OpenSession(path)
            self._quiet = 0
        elif self._session.refresh():
            self._quiet = 0
        else:
            self._quiet += 1
        return self._session

    def _close(self) -> None:
        if self._session is not None:
            self._session.close()
        self._session = None
        self._probes.clear()
        self._ngrams.clear()
        self._replays.clear()
        self._gradients.clear()
        self._correlations.clear()

    def _probe(self, session: OpenSession, text: str | None) -> str:
        if text is not None:
            return text
        if session.path not in self._probes:
            self._probes[session.path] = probe_text(session)
        return self._probes[session.path]

    def _replay(self, session: OpenSession, checkpoint: int, probe: str) -> Replay:
        key = (checkpoint, probe)
        if key in self._replays:
            self._replays.move_to_end(key)
            return self._replays[key]
        replayed = session.replay(probe, checkpoint)
        self._replays[key] = replayed
        while len(self._replays) > _REPLAYS_KEPT:
            self._replays.popitem(last=False)
        return replayed

    def _report(self, session: OpenSession, job: Job, progress, started: float) -> UnitReport | None:
        checkpoints = session.checkpoints
        if not _has_model(session) or not checkpoints:
            raise RnnbowError(_no_units_reason(session))
        checkpoint = checkpoints[-1] if job.checkpoint is None else job.checkpoint
        if checkpoint not in checkpoints:
            raise RnnbowError(f"no checkpoint at batch {checkpoint:,}")
        probe = self._probe(session, job.text)
        progress(0.1, f"replaying checkpoint {checkpoint:,} over {len(probe):,} characters")
        replayed = self._replay(session, checkpoint, probe)
        progress(0.5, "correlating units with features")
        report = unit_report(replayed, probe, checkpoint, dict(job.features))
        final = not job.ngram_order
        self.finishedJob.emit(Outcome(job.kind, job.generation, job.path, report, final, time.perf_counter() - started))
        return report

    def _with_ngram(self, session: OpenSession, job: Job, report: UnitReport, progress) -> UnitReport:
        key = (report.text, job.ngram_order)
        if key not in self._ngrams:
            progress(0.6, f"counting the {job.ngram_order}-gram of the corpus")
            self._ngrams[key] = probe_ngram(session, report.text, job.ngram_order)
        model = self._ngrams[key].model
        progress(0.9, "comparing the model with the n-gram")
        ngram_loss = model.loss(report.replay.ids)
        return replace(report, ngram_order=model.order, ngram_loss=ngram_loss,
                       memory=memory_gain(report.replay.loss, ngram_loss, report.text))

    def _unit_gradients(self, session: OpenSession, job: Job, progress) -> UnitGradients:
        if job.batch in self._gradients:
            return self._gradients[job.batch]
        found = session.unit_gradients(job.batch, progress=progress)
        self._gradients[job.batch] = found
        while len(self._gradients) > _GRADIENTS_KEPT:
            self._gradients.popitem(last=False)
        return found

    def _curve(self, session: OpenSession, job: Job, progress) -> TrainingCurve:
        checkpoints = session.checkpoints
        if not _has_model(session) or not checkpoints:
            raise RnnbowError(_no_units_reason(session))
        probe = self._probe(session, job.text)
        found = []
        for i, batch in enumerate(checkpoints):
            key = (batch, probe, job.features)
            if key not in self._correlations:
                progress(i / len(checkpoints), f"replaying checkpoint {i + 1} of {len(checkpoints)} (batch {batch:,})")
                self._correlations[key] = feature_report(self._replay(session, batch, probe), probe, dict(job.features))[1]
            found.append(self._correlations[key])
        return best_over_training(found, checkpoints)


def _has_model(session: OpenSession) -> bool:
    """Whether RNNbow can replay the session's checkpoints (sessions recorded from a PyTorch module cannot)."""
    return session.source == "rnnbow"


def _no_units_reason(session: OpenSession) -> str:
    if not _has_model(session):
        return "this session was recorded from a PyTorch module; RNNbow has no model of it to replay"
    return ("this session has no checkpoints yet (the first is taken at batch 0 once it is flushed); "
            "train with checkpoints to see what the units do")
