"""The main window's status line: what it says about training or the open session, in which words."""

from __future__ import annotations

import html
import math
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QStatusBar

from ..core.loss_smoothing import LOSS_UNIT, loss_text, per_character
from .training_panel import PAUSED, RUNNING, STOPPING
from .worker import TrainingSnapshot


class TrainingStatus:
    """The figures in the status bar: state, batch, chars/s, smooth loss per character, records and the session file."""

    def __init__(self, bar: QStatusBar):
        self.state = QLabel()
        self.batch = QLabel()
        self.rate = QLabel()
        self.loss = QLabel()
        self.records = QLabel()
        self.path = QLabel()
        self.path.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cell: str | None = None  # the shown session's cell, named after its file
        self.seq_length: int | None = None  # the shown session's: its smooth loss is summed over that many characters
        self.loss_unit = LOSS_UNIT  # per character, or per token for a model recorded from PyTorch
        for label in (self.state, self.batch, self.rate, self.loss, self.records):
            bar.addPermanentWidget(label)
        bar.addPermanentWidget(self.path, 1)
        self.show(state="", batch=None, rate=None, loss=None, records=None, path=None)

    def show(self, state: str, batch: int | None, rate: float | None, loss: float | None,
             records: int | None, path: Path | None) -> None:
        """`loss`: the smooth loss as the trainer keeps it, summed over a batch; shown per character."""
        self.state.setText(f"<b>{html.escape(state)}</b>" if state else "")
        self.batch.setText("" if batch is None else f"batch {batch:,}")
        self.rate.setText("" if rate is None else f"{rate:,.0f} chars/s")
        if loss is None or not math.isfinite(loss) or self.seq_length is None:
            self.loss.setText("")
        else:
            self.loss.setText(f"smooth loss {loss_text(per_character(loss, self.seq_length), self.loss_unit)}")
        self.records.setText("" if records is None else f"{records:,} records")
        named = "" if path is None else str(path) + (f" ({self.cell})" if self.cell else "")
        self.path.setText(named)
        self.path.setToolTip("" if path is None else f"Session file: {named}")

    # -- the situations the window is in ---------------------------------------------------------------
    def show_nothing(self) -> None:
        self.show("", None, None, None, None, None)

    def show_loading(self) -> None:
        """Start was pressed while the corpus still loads."""
        self.show("Loading corpus…", None, None, None, None, None)

    def show_training(self, panel_state: str, snapshot: TrainingSnapshot | None, records: int, path: Path | None) -> None:
        """A run of this window is going (or pausing, or stopping)."""
        snap = snapshot
        label = {RUNNING: "Training", PAUSED: "Paused" if snap is not None and snap.paused else "Pausing…",
                 STOPPING: "Stopping…"}.get(panel_state, "")
        self.show(label, snap.batch if snap else 0, snap.chars_per_second if snap and not snap.paused else None,
                  snap.smooth_loss if snap else None, records, path)

    def show_stopped(self, snapshot: TrainingSnapshot | None, records: int, path: Path | None) -> None:
        """The run of this window has ended; its session is still shown."""
        self.show("Stopped", snapshot.batch if snapshot else 0, None, snapshot.smooth_loss if snapshot else None,
                  records, path)

    def show_session(self, complete: bool, writer_stopped: bool, batches: int, smooth_loss: float,
                     records: int, path: Path | None) -> None:
        """An opened session file: saved, left unfinished, or still written by another process."""
        if complete:
            label = "Saved session"
        elif writer_stopped:  # killed, crashed or out of space: it will not grow
            label = "Unfinished session"
        else:
            label = "Growing session"
        self.show(label, batches, None, smooth_loss if batches else None, records, path)

    def text(self) -> str:
        """All figures as one line (what tests and screen readers see)."""
        parts = [w.text() for w in (self.state, self.batch, self.rate, self.loss, self.records, self.path)]
        return "  ".join(p.replace("<b>", "").replace("</b>", "") for p in parts if p)
