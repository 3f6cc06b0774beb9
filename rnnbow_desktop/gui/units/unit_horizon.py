"""The selected unit's gradient horizon for the selected recorded batch: per-unit itemized gradients, recomputed off
the GUI thread from the session's checkpoints, handed to the horizon view."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from ...api.unit_gradients import UnitGradients
from ..selection import UnitChoice
from .worker import GRADIENTS, Job, UnitsWorker

SETTLE_MS = 250  # a selection that stays this long is worth re-training for
_KEPT = 8  # batches whose per-unit gradients stay in memory (n × n × H floats each)


@dataclass(frozen=True)
class UnitHorizon:
    """One unit's share of every part G[t, j] of one batch: what the horizon view draws for that unit."""

    batch: int
    unit: UnitChoice
    values: np.ndarray  # (n, n) [t, j] = ‖rows of unit u in G[t, j]‖_F (all of u's gate rows)
    gradients: UnitGradients  # the whole (n, n, H) result, with how it was recomputed

    @property
    def note(self) -> str:
        g = self.gradients
        where = ("from the initial weights (this file's checkpoints lack the optimizer's memory)"
                 if g.from_checkpoint is None else f"from the checkpoint at batch {g.from_checkpoint:,}")
        return f"unit {self.unit.unit}: recomputed {where}, {g.batches_retrained:,} batches re-trained in {g.seconds:.2f} s"


class UnitHorizonSource(QObject):
    """Watches the selected record and unit; `changed` carries the unit's horizon (or None when there is none)."""

    changed = Signal(object)  # UnitHorizon | None
    status = Signal(str)  # what it is doing, for the Units view's status line

    def __init__(self, selection, worker: UnitsWorker, parent=None):
        super().__init__(parent)
        self.selection = selection
        self.worker = worker
        self.path: Path | None = None
        self.store = None
        self.live = False
        self.enabled = True  # False for sessions without a model to re-train
        self.generation = 0
        self.current: UnitHorizon | None = None
        self._results: OrderedDict[int, UnitGradients] = OrderedDict()
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(SETTLE_MS)
        self._settle.timeout.connect(self.request)
        selection.selectedChanged.connect(self._changed)
        selection.unitChanged.connect(self._changed)
        selection.followLiveChanged.connect(self._changed)
        worker.finishedJob.connect(self._finished)
        worker.failed.connect(self._failed)

    def set_session(self, path: Path | None, store, enabled: bool = True) -> None:
        self.path, self.store, self.enabled = path, store, enabled
        self._results.clear()
        self._settle.stop()
        self.generation += 1
        self._emit(None)

    def _changed(self, *_) -> None:
        # The unit alone changed and its batch is known: answer at once, no re-training needed.
        batch = self._batch()
        unit = self.selection.unit
        if unit is not None and batch is not None and batch in self._results:
            self._settle.stop()
            self._emit(self._horizon(batch, unit, self._results[batch]))
            return
        if self.current is not None and (unit is None or batch != self.current.batch):
            self._emit(None)
        self._settle.start()

    def _batch(self) -> int | None:
        index = self.selection.selected
        if self.store is None or index is None or not 0 <= index < len(self.store):
            return None
        return int(self.store.batches[index])

    def request(self) -> None:
        """Recompute for the selection now (normally after the selection has settled)."""
        unit, batch = self.selection.unit, self._batch()
        if not self.enabled or self.path is None or unit is None or batch is None:
            self._emit(None)
            return
        if self.live and self.selection.follow_live:
            # The newest batch changes several times a second while training: re-training for each is waste.
            self.status.emit("select a batch (Follow live off) to see the selected unit's gradient horizon")
            return
        if batch in self._results:
            self._emit(self._horizon(batch, unit, self._results[batch]))
            return
        self.generation += 1
        self.status.emit(f"recomputing batch {batch:,} per unit…")
        self.worker.submit(Job(GRADIENTS, self.generation, self.path, batch=batch))

    def _finished(self, outcome) -> None:
        if outcome.kind != GRADIENTS or outcome.generation != self.generation or outcome.path != self.path:
            return
        found: UnitGradients = outcome.value
        self._results[found.batch] = found
        while len(self._results) > _KEPT:
            self._results.popitem(last=False)
        unit = self.selection.unit
        if unit is not None and found.batch == self._batch():
            horizon = self._horizon(found.batch, unit, found)
            self._emit(horizon)
            self.status.emit(horizon.note)

    def _failed(self, failure) -> None:
        if failure.kind == GRADIENTS and failure.generation == self.generation:
            self.status.emit(f"cannot recompute the batch per unit: {failure.message}")

    @staticmethod
    def _horizon(batch: int, unit: UnitChoice, found: UnitGradients) -> UnitHorizon | None:
        if not 0 <= unit.unit < found.values.shape[2]:
            return None
        return UnitHorizon(batch, unit, found.values[:, :, unit.unit], found)

    def _emit(self, horizon: UnitHorizon | None) -> None:
        if horizon is not self.current:
            self.current = horizon
            self.changed.emit(horizon)
