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
from ...analysis.replay import Replay, encode, replay
from ...analysis.unit_finder import FeatureCorrelations, TrainingCurve, best_over_training
from ...analysis.unit_report import UnitReport, feature_report, unit_report
from ...api.session import OpenSession
from ...api.unit_gradients import UnitGradients
from ...api.units import NgramBaseline, probe_ngram, probe_text
from ...core.errors import Cancelled, RnnbowError
from ...core.records import Checkpoint
from ..thread_priority import yield_to_the_window

PROGRESS_INTERVAL = 0.1  # seconds between progress signals
# The curve (a replay per checkpoint) steps aside for a waiting report or unit gradients, but only after it has
# had this long in its turn: while a session grows fast another job is nearly always waiting, and a curve that
# stepped aside at once never got past its cache (seen: an empty "Over training" plot while following a file).
CURVE_SLICE = 0.25  # seconds
_REPLAYS_KEPT = 6
QUIET_LOOKS = 5  # see UnitsWorker._looked
# Checkpoints of a run this window trains, kept as the trainer handed them over: about 1.5 MB each for an
# LSTM with H = 100, 20 MB at H = 512. Past this budget the oldest are dropped (and read from the file).
STREAMED_BYTES = 256 * 1024 * 1024
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
        self._quiet = 0  # looks in a row that found the open file unchanged
        # Shared with the GUI thread (under the lock): checkpoints of the run being trained into `_streamed_path`.
        self._streamed: OrderedDict[int, Checkpoint] = OrderedDict()
        self._streamed_batches: set[int] = set()  # every batch streamed, kept in memory or not
        self._streamed_path: Path | None = None
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
            if self._stopping:
                return  # shut down: a late timer's request is dropped
            self._pending[job.kind] = job
            self._newest[job.kind] = job.generation
            self._lock.notify()
        if not self.isRunning():
            self.start()

    def add_checkpoints(self, path: Path, checkpoints) -> None:
        """Checkpoints of the run this window is training into `path`, straight from the trainer.

        While another process writes a session, a second reader in this process does not see what it
        adds: HDF5 shares one cache between the readers of a file in a process, and the window's own
        reader keeps its entries from when it read them (seen: a reader opened afresh still found the
        8 checkpoints of the first chunk). So a live run's checkpoints come from here, not the file.
        """
        with self._lock:
            if path != self._streamed_path:
                self._streamed.clear()
                self._streamed_batches.clear()
                self._streamed_path = path
            for checkpoint in checkpoints:
                self._streamed[checkpoint.batch] = checkpoint
                self._streamed_batches.add(checkpoint.batch)
            size = sum(_nbytes(cp) for cp in self._streamed.values())
            while len(self._streamed) > 1 and size > STREAMED_BYTES:
                size -= _nbytes(self._streamed.popitem(last=False)[1])

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
        yield_to_the_window()
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

    def _waiting_besides(self, kind: str) -> bool:
        with self._lock:
            return any(k != kind for k in self._pending)

    def _current(self, job: Job) -> bool:
        with self._lock:
            return not self._stopping and self._newest.get(job.kind) == job.generation

    def _progress_for(self, job: Job):
        turn_started = time.monotonic()

        def progress(fraction: float, text: str) -> None:
            if not self._current(job):
                raise Cancelled
            now = time.monotonic()
            if job.kind == CURVE and now - turn_started >= CURVE_SLICE and self._waiting_besides(CURVE):
                raise _StepAside  # the curve (many replays) lets a report or a unit's gradients go first
            if now - self._last_report >= PROGRESS_INTERVAL:
                self._last_report = now
                self.progressed.emit((job.kind, job.generation, fraction, text))

        return progress

    def _run_job(self, job: Job) -> None:
        started = time.perf_counter()
        progress = self._progress_for(job)
        try:
            progress(0.0, "opening the session")
            session = self._open(job.path)
            if job.kind == CHECKPOINTS:
                session = self._looked(session, job.path)
                value = CheckpointList(self._checkpoints(session), session.complete, _has_model(session))
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
        except _StepAside:
            with self._lock:
                self._pending.setdefault(job.kind, job)  # resumed later; replays done so far are cached
        except Cancelled:
            self.cancelledJob.emit((job.kind, job.generation))
        except (RnnbowError, KeyError) as exc:
            self.failed.emit(Failure(job.kind, job.generation, exc.args[0] if exc.args else str(exc)))
        except Exception as exc:  # noqa: BLE001 — a worker must report, never take the app down
            self.failed.emit(Failure(job.kind, job.generation, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))

    # -- the jobs -------------------------------------------------------------------------------------
    def _open(self, path: Path, reopen: bool = False) -> OpenSession:
        """The session at `path`, refreshed; `reopen`: opened afresh (what was computed from it is kept)."""
        if self._session is not None and self._session.path != path:
            self._close()
        elif self._session is not None and reopen:
            self._session.close()
            self._session = None
        if self._session is None:
            self._session = OpenSession(path)
            # Another reader of this process (the window's) may hold the file's datasets with older lengths,
            # which a new reader shares until it refreshes.
            self._session.refresh()
        elif self._session.refresh():
            self._quiet = 0
        else:
            self._quiet += 1
        return self._session

    def _looked(self, session: OpenSession, path: Path) -> OpenSession:
        """After a look that found nothing new: a reader keeps the header it opened with, so now and then
        (after 5, 10, 20, 40, … such looks: a paused run is not re-opened each time) the file is opened
        afresh to see whether its writer has closed it."""
        quiet = self._quiet
        if not session.complete and quiet >= QUIET_LOOKS and quiet % QUIET_LOOKS == 0:
            rounds = quiet // QUIET_LOOKS
            if rounds & (rounds - 1) == 0:
                return self._open(path, reopen=True)
        return session

    def _close(self) -> None:
        if self._session is not None:
            self._session.close()
        self._session = None
        self._quiet = 0
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

    def _checkpoints(self, session: OpenSession) -> tuple[int, ...]:
        """The file's checkpoints and those streamed from a run this window trains."""
        with self._lock:
            streamed = self._streamed_batches if self._streamed_path == session.path else set()
            return tuple(sorted(set(session.checkpoints) | streamed))

    def _replay(self, session: OpenSession, checkpoint: int, probe: str) -> Replay:
        key = (checkpoint, probe)
        if key in self._replays:
            self._replays.move_to_end(key)
            return self._replays[key]
        with self._lock:
            streamed = self._streamed.get(checkpoint) if self._streamed_path == session.path else None
        if streamed is not None:
            replayed = replay(session.cell, streamed.params, None, encode(probe, session.vocab))
        elif checkpoint not in session.checkpoints:
            raise RnnbowError(f"the checkpoint at batch {checkpoint:,} is no longer in memory; "
                              "it can be read from the file once training stops")
        else:
            replayed = session.replay(probe, checkpoint)
        self._replays[key] = replayed
        while len(self._replays) > _REPLAYS_KEPT:
            self._replays.popitem(last=False)
        return replayed

    def _report(self, session: OpenSession, job: Job, progress, started: float) -> UnitReport | None:
        checkpoints = self._checkpoints(session)
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
        checkpoints = self._checkpoints(session)
        if not _has_model(session) or not checkpoints:
            raise RnnbowError(_no_units_reason(session))
        probe = self._probe(session, job.text)
        found, batches = [], []
        for i, batch in enumerate(checkpoints):
            key = (batch, probe, job.features)
            if key not in self._correlations:
                progress(i / len(checkpoints), f"replaying checkpoint {i + 1} of {len(checkpoints)} (batch {batch:,})")
                try:
                    replayed = self._replay(session, batch, probe)
                except RnnbowError:
                    continue  # a live run's checkpoint that left memory: the curve has a gap until training stops
                self._correlations[key] = feature_report(replayed, probe, dict(job.features))[1]
            found.append(self._correlations[key])
            batches.append(batch)
        if not found:
            raise RnnbowError("none of the checkpoints can be read yet")
        return best_over_training(found, batches)


class _StepAside(Exception):
    """A long job pauses for a more urgent one; it is queued again and goes on from its cache."""


def _nbytes(checkpoint: Checkpoint) -> int:
    arrays = [*checkpoint.params.values(), *checkpoint.state, *(checkpoint.memory or {}).values()]
    return sum(a.nbytes for a in arrays)


def _has_model(session: OpenSession) -> bool:
    """Whether RNNbow can replay the session's checkpoints (sessions recorded from a PyTorch module cannot)."""
    return session.source == "rnnbow"


def _no_units_reason(session: OpenSession) -> str:
    if not _has_model(session):
        return "this session was recorded from a PyTorch module; RNNbow has no model of it to replay"
    return ("this session has no checkpoints yet (the first is taken at batch 0 once it is flushed); "
            "train with checkpoints to see what the units do")
