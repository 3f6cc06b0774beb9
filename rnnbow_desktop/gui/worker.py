"""The training thread: steps a training run (in a child process, or in-process) batch after batch and hands the
GUI frozen snapshots, never touching a widget."""

from __future__ import annotations

import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QThread, Signal

from ..core.errors import RnnbowError, SessionWriteError, TrainingDiverged
from ..core.records import BatchRecord, Checkpoint, Sample, StepResult
from ..storage.run import TrainingRun
from ..storage.training_process import ChildError, TrainingProcess

# At ~700 batches/s one signal per batch would swamp the GUI's event queue; 30 ms keeps the
# hand-over at ≤ 33 per second while the redraw timer still sees fresh data every frame.
EMIT_INTERVAL = 0.03
RATE_WINDOW = 1.0  # seconds of history for the chars/s figure
# Longest the loop waits for the GUI to finish a frame; a lost release() only slows training.
HOLD_TIMEOUT = 0.2


def _readonly(values, dtype) -> np.ndarray:
    array = np.array(values, dtype=dtype)
    array.flags.writeable = False
    return array


@dataclass(frozen=True)
class TrainingSnapshot:
    """What happened since the previous snapshot. Records and samples are immutable; arrays are read-only copies."""

    generation: int  # which training run this belongs to; the GUI drops stale ones
    batch: int  # batches trained so far
    smooth_loss: float
    records: tuple[BatchRecord, ...]  # new since the previous snapshot
    samples: tuple[Sample, ...]
    loss_batches: np.ndarray  # (m,) batch numbers of the new smooth-loss points
    smooth_losses: np.ndarray  # (m,)
    n_records: int  # records written so far
    chars_per_second: float
    paused: bool
    # New since the previous snapshot. The Units view replays them from here: while another process writes
    # the file, a second reader in this process does not see new checkpoints (see gui/units/worker.py).
    checkpoints: tuple[Checkpoint, ...] = ()


@dataclass(frozen=True)
class WorkerFailure:
    """Why training stopped early. `details` holds a traceback only for unexpected errors."""

    generation: int
    title: str
    message: str
    path: str  # the session file, which keeps everything trained before the failure
    details: str = ""


class TrainingWorker(QThread):
    """Runs `run.step()` in a loop; pause/resume/stop take effect between two batches.

    The run belongs to this thread once `start()` is called: the GUI must not touch it until
    `finishedRun` was emitted (or `wait()` returned). `run.close()` always happens here, so the
    session file is complete however the loop ends. A TrainingProcess trains ahead of this loop;
    pausing and stopping take in what it trained beyond the last step (`settle`), so the snapshots
    account for every batch in the file.
    """

    snapshot = Signal(object)  # TrainingSnapshot; Signal(object) because PySide6 mangles dict/tuple payloads
    failed = Signal(object)  # WorkerFailure
    finishedRun = Signal(object)  # generation

    def __init__(self, run: TrainingProcess | TrainingRun, generation: int = 0, emit_interval: float = EMIT_INTERVAL, parent=None):
        super().__init__(parent)
        self._run = run
        self.generation = generation
        self.emit_interval = emit_interval
        self._stop = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self._gui_idle = threading.Event()
        self._gui_idle.set()
        self._reset_pending()
        self._rate_history: deque[tuple[float, int]] = deque()
        self._smooth_loss = float("nan")

    # -- control, from the GUI thread ------------------------------------------------------------
    def pause(self) -> None:
        self._resume.clear()

    def resume(self) -> None:
        self._resume.set()

    def stop(self) -> None:
        self._stop.set()
        self._resume.set()  # wake a paused or held loop so it can see the stop
        self._gui_idle.set()

    def hold(self) -> None:
        """The GUI is about to draw a frame: wait after the current batch until `release()`.

        Why: the views are drawn by many short Python callbacks, and each must win the GIL back
        from this thread (up to the 5 ms switch interval each time). Measured, that made a 20 ms
        frame take ~100 ms. Stepping aside for the frame keeps the window responsive and costs
        training only the frame time. A run in a child process shares no lock with the views, and
        holding this loop would only stall the child behind a full pipe: there this does nothing.
        """
        if self._run.in_process:
            self._gui_idle.clear()

    def release(self) -> None:
        self._gui_idle.set()

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    # -- the loop, on the worker thread ------------------------------------------------------------
    def _reset_pending(self) -> None:
        self._records: list[BatchRecord] = []
        self._samples: list[Sample] = []
        self._checkpoints: list[Checkpoint] = []
        self._loss_batches: list[int] = []
        self._losses: list[float] = []

    def _chars_per_second(self, now: float) -> float:
        history = self._rate_history
        history.append((now, self._run.batch))
        while len(history) > 2 and now - history[0][0] > RATE_WINDOW:
            history.popleft()
        (t0, b0), (t1, b1) = history[0], history[-1]
        if t1 <= t0:
            return 0.0
        return (b1 - b0) * self._run.config.seq_length / (t1 - t0)

    def _emit(self, paused: bool = False) -> None:
        now = time.monotonic()
        rate = 0.0 if paused else self._chars_per_second(now)
        self.snapshot.emit(TrainingSnapshot(
            generation=self.generation,
            batch=self._run.batch,
            smooth_loss=self._smooth_loss,
            records=tuple(self._records),
            samples=tuple(self._samples),
            loss_batches=_readonly(self._loss_batches, np.int64),
            smooth_losses=_readonly(self._losses, np.float64),
            n_records=self._run.records,
            chars_per_second=rate,
            paused=paused,
            checkpoints=tuple(self._checkpoints),
        ))
        self._reset_pending()

    def _wait_while_paused(self) -> None:
        # A paused session is flushed, so a reader (or a copy) sees every trained batch. Before the
        # paused snapshot: the GUI allows Save As once it has seen that snapshot.
        self._settle()
        self._run.flush()
        self._emit(paused=True)
        self._rate_history.clear()
        while not self._resume.wait(0.1):
            pass

    def run(self) -> None:  # QThread entry point
        try:
            last_emit = time.monotonic()
            while not self._stop.is_set():
                if not self._resume.is_set():
                    self._wait_while_paused()
                    last_emit = time.monotonic()
                    continue
                if not self._gui_idle.is_set():
                    self._gui_idle.wait(HOLD_TIMEOUT)
                self._take(self._run.step())
                now = time.monotonic()
                if now - last_emit >= self.emit_interval:
                    self._emit()
                    last_emit = now
        except TrainingDiverged as exc:
            self._fail("Training diverged", f"{exc}. Try a smaller learning rate.")
        except SessionWriteError as exc:
            self._fail("Could not write the session", str(exc))
        except RnnbowError as exc:
            self._fail("Training stopped", str(exc))
        except ChildError as exc:  # a bug in the training process: its own traceback
            self._fail("Unexpected error during training", f"{exc.name}: {exc}", exc.details)
        except Exception as exc:  # noqa: BLE001 — a worker must report, never take the app down
            self._fail("Unexpected error during training", f"{type(exc).__name__}: {exc}", traceback.format_exc())
        finally:
            self._finish()

    def _take(self, result: StepResult) -> None:
        self._smooth_loss = result.smooth_loss
        self._loss_batches.append(result.batch)
        self._losses.append(result.smooth_loss)
        if result.record is not None:
            self._records.append(result.record)
        if result.sample is not None:
            self._samples.append(result.sample)
        if result.checkpoint is not None:
            self._checkpoints.append(result.checkpoint)

    def _settle(self) -> None:
        for result in self._run.settle():
            self._take(result)

    def _finish(self) -> None:
        try:
            self._settle()
            self._emit(paused=False)
        finally:
            try:
                self._run.close()
            except RnnbowError as exc:
                self._fail("Could not finish the session", str(exc))
            except Exception as exc:  # noqa: BLE001
                self._fail("Could not finish the session", f"{type(exc).__name__}: {exc}", traceback.format_exc())
            self.finishedRun.emit(self.generation)

    def _fail(self, title: str, message: str, details: str = "") -> None:
        self.failed.emit(WorkerFailure(self.generation, title, message, str(self._run.path), details))
