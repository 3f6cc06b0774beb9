"""Linking the compared sessions: a batch previewed, selected or a loss step hovered in one is shown in all."""

from __future__ import annotations

from functools import partial

import numpy as np
from PySide6.QtCore import QObject, Signal

from ...storage.record_store import RecordStore
from .sessions import ComparedSession


def _batch_or_none(store: RecordStore, index) -> int | None:
    return None if index is None or not 0 <= index < len(store) else int(store.batches[index])


class BatchLink(QObject):
    """Keeps every session on the same training batch: a preview, a selection or a hovered loss step in
    one session is repeated in the others (at the record nearest that batch: sessions may record at
    different intervals). The guard flag stops the echo of our own changes from starting another round.
    """

    selectedBatchChanged = Signal(object)  # int | None: the batch every session was aligned to
    previewBatchChanged = Signal(object)  # int | None

    def __init__(self, sessions: list[ComparedSession], parent=None):
        super().__init__(parent)
        self.sessions = list(sessions)
        self.selected_batch: int | None = None
        self.preview_batch: int | None = None
        self._busy = False
        for i, s in enumerate(self.sessions):
            s.selection.previewChanged.connect(partial(self._preview_from, i))
            s.selection.selectedChanged.connect(partial(self._selected_from, i))
            s.selection.hoveredLossChanged.connect(partial(self._hovered_from, i))

    # -- from one session to all ------------------------------------------------------------------------
    def _preview_from(self, i: int, index) -> None:
        if not self._busy:
            self.set_preview_batch(_batch_or_none(self.sessions[i].store, index))

    def _selected_from(self, i: int, index) -> None:
        if not self._busy:
            batch = _batch_or_none(self.sessions[i].store, index)
            if batch is not None:
                self.select_batch(batch)

    def _hovered_from(self, i: int, t) -> None:
        if self._busy:
            return
        self._busy = True
        try:
            for j, s in enumerate(self.sessions):
                if j != i:
                    fits = t is None or t < s.store.config.seq_length
                    s.selection.set_hovered_loss(t if fits else None)
        finally:
            self._busy = False

    # -- to all sessions --------------------------------------------------------------------------------
    def set_preview_batch(self, batch: int | None) -> None:
        """Preview (as the overview's hover does) the record nearest `batch` in every session; None ends it."""
        self._busy = True
        try:
            for s in self.sessions:
                s.selection.set_preview(None if batch is None else s.store.nearest_index(batch))
        finally:
            self._busy = False
        if batch != self.preview_batch:
            self.preview_batch = batch
            self.previewBatchChanged.emit(batch)

    def select_batch(self, batch: int, user: bool = True) -> None:
        """Select the record nearest `batch` in every session."""
        batch = int(batch)
        self._busy = True
        try:
            for s in self.sessions:
                s.selection.select(s.store.nearest_index(batch), user=user)
        finally:
            self._busy = False
        if batch != self.selected_batch:
            self.selected_batch = batch
            self.selectedBatchChanged.emit(batch)

    def step(self, delta: int) -> None:
        """Select the next (delta > 0) or previous recorded batch of any session: ←/→ move all together."""
        current = self.selected_batch
        if current is None:
            return
        candidates = []
        for s in self.sessions:
            batches = s.store.batches
            if delta > 0:
                i = int(np.searchsorted(batches, current, side="right"))
                if i < len(batches):
                    candidates.append(int(batches[i]))
            else:
                i = int(np.searchsorted(batches, current, side="left"))
                if i > 0:
                    candidates.append(int(batches[i - 1]))
        if candidates:
            self.select_batch(min(candidates) if delta > 0 else max(candidates))

    def select_end(self, last: bool) -> None:
        """Home/End: the first or last batch any session recorded."""
        ends = [int(s.store.batches[-1] if last else s.store.batches[0]) for s in self.sessions]
        self.select_batch(max(ends) if last else min(ends))

