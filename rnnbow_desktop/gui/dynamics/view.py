"""The Dynamics view: how the hidden units organise themselves over training, as a scatter of every (checkpoint, unit)
beside the spread and community curves; computed off the GUI thread, and recomputed as a live session adds checkpoints."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSplitter, QVBoxLayout, QWidget,
)

from ...analysis.hidden_dynamics import HiddenDynamics
from ...analysis.hidden_trace import HiddenTrace
from ..selection import SelectionModel, UnitChoice
from ..views import palette
from .curves import CurveSeries, DynamicsCurvesPlot
from .scatter import COLOR_BY, DynamicsScatter
from .worker import DynamicsJob, DynamicsOutcome, DynamicsWorker, SessionHandle

POLL_MS = 5000  # how often a session that may still grow is checked for new checkpoints
PROGRESS_STEPS = 1000
WIDE = 1.3  # wider than tall by this much: curves beside the scatter, else below it
STATE_CHOICES = (("h", "hidden state h"), ("c", "cell state c"))


class DynamicsView(QWidget):
    """Scatter + curves for the shown session. Talks to the rest of the window only through the SelectionModel.

    `set_session(path, cell)` follows a session file; work starts when the view is visible (a hidden tab
    costs nothing) and again, every POLL_MS, when the file has new checkpoints. `show_dynamics` draws a
    result directly (what `rnnbow dynamics --out` renders).
    """

    def __init__(self, selection: SelectionModel, parent=None):
        super().__init__(parent)
        self.selection = selection
        self.cell: str | None = None
        self.handle: SessionHandle | None = None
        self.trace: HiddenTrace | None = None
        self.dynamics: HiddenDynamics | None = None
        self.worker: DynamicsWorker | None = None
        self.generation = 0
        self.known = -1  # checkpoints in the file when the result on show was computed
        self.settled = False  # the file is complete and its result is on show: nothing left to poll for
        self.paused = False  # the user cancelled: wait for Compute
        self._retiring: list[DynamicsWorker] = []  # cancelled jobs still winding down
        self._pending = False  # a forced job waits for them
        self._closing_handles: list[SessionHandle] = []
        palette.light_palette(self)

        self.header = QLabel(palette.header_html(
            "Dynamics · hidden units over training",
            "multislice PHATE of every (checkpoint, unit); close points behave alike on the probe text"))
        self.header.setWordWrap(True)
        self.color_combo = QComboBox()
        for key, text in COLOR_BY:
            self.color_combo.addItem(text, key)
        self.color_combo.setToolTip("colour the points by when in training they are, or by which unit they are")
        self.state_combo = QComboBox()
        for key, text in STATE_CHOICES:
            self.state_combo.addItem(text, key)
        self.state_combo.setToolTip("h: the hidden state (every cell); c: the LSTM's cell state, its memory")
        self.state_combo.setVisible(False)  # shown for an LSTM, the one cell with a second state
        self.compute_button = QPushButton("Compute")
        self.compute_button.setToolTip("replay every checkpoint over the probe text and embed them now")
        self.progress = QProgressBar()
        self.progress.setRange(0, PROGRESS_STEPS)
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        color_label = QLabel("colour by")
        color_label.setBuddy(self.color_combo)  # hidden with it in a picture (offscreen.hide_controls)
        controls.addWidget(color_label)
        controls.addWidget(self.color_combo)
        controls.addWidget(self.state_combo)
        controls.addWidget(self.compute_button)
        controls.addWidget(self.progress, 1)
        controls.addWidget(self.cancel_button)
        controls.addStretch(0)

        self.scatter = DynamicsScatter()
        self.curves = DynamicsCurvesPlot()
        self.curves.setMinimumSize(220, 200)  # two plots with readable axes, in either orientation
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.scatter)
        self.splitter.addWidget(self.curves)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(4)
        layout.addWidget(self.header)
        layout.addLayout(controls)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.status)

        self.poll_timer = QTimer(self)
        self.poll_timer.setInterval(POLL_MS)
        self.poll_timer.timeout.connect(self._poll)
        self.color_combo.currentIndexChanged.connect(lambda *_: self.scatter.set_color_by(self.color_combo.currentData()))
        self.state_combo.currentIndexChanged.connect(self._state_chosen)
        self.compute_button.clicked.connect(self.compute)
        self.cancel_button.clicked.connect(self.cancel)
        self.scatter.pointClicked.connect(self._point_clicked)
        self.curves.checkpointClicked.connect(selection.set_checkpoint)
        selection.unitChanged.connect(self._unit_changed)
        selection.checkpointChanged.connect(self._checkpoint_changed)
        self._set_busy(False)
        self._say("Open or train a session with checkpoints to see how its hidden units organise themselves.")

    # -- the session ---------------------------------------------------------------------------------
    def set_session(self, path: Path | None, cell: str | None = None) -> None:
        """Follow this session file (None: none). The result on show is dropped; a running job is cancelled."""
        if self.handle is not None and path is not None and Path(path) == self.handle.path and cell == self.cell:
            return
        self._retire_worker()
        self._pending = False
        if self.handle is not None:
            self._closing_handles.append(self.handle)
            self._close_idle_handles()
        self.handle = SessionHandle(Path(path)) if path is not None else None
        self.cell = cell
        self.known = -1
        self.settled = self.paused = False
        self.trace = None
        self._show(None)
        lstm = cell == "lstm"
        self.state_combo.blockSignals(True)
        self.state_combo.setCurrentIndex(0)
        self.state_combo.blockSignals(False)
        self.state_combo.setEnabled(lstm)
        self.state_combo.setVisible(lstm)
        if self.handle is None:
            self.poll_timer.stop()
            self._say("Open or train a session with checkpoints to see how its hidden units organise themselves.")
            return
        self._say(f"{html.escape(self.handle.path.name)}: waiting to be shown")
        self.poll_timer.start()
        self._poll()

    def compute(self) -> None:
        """Compute now for the followed session, even if nothing changed (the Compute button)."""
        if self.handle is None:
            return
        self.paused = False
        self.settled = False
        self.known = -1
        self.poll_timer.start()
        self._start_job(force=True)

    def cancel(self) -> None:
        """Stop the running computation; polling waits until Compute is pressed."""
        if self.worker is not None:
            self.worker.cancel()  # it reports cancelledJob, then ends
        self.paused = True

    def shutdown(self) -> None:
        """Stop polling and any running job (waiting for it), and close the files. Idempotent."""
        self.poll_timer.stop()
        if self.handle is not None:  # first, so that nothing starts again when the jobs end
            self._closing_handles.append(self.handle)
            self.handle = None
        self._stop_worker()
        self._close_idle_handles()

    @property
    def busy(self) -> bool:
        return self.worker is not None

    # -- jobs ----------------------------------------------------------------------------------------------
    # One job at a time touches the session file: a job started while a cancelled one is still winding
    # down (it stops at its next progress report) waits for it, so a handle is never used by two threads.
    def _poll(self) -> None:
        if self.handle is None or self.busy or self.paused or self.settled or not self.isVisible():
            return
        self._start_job()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        QTimer.singleShot(0, self._poll)  # a tab brought forward computes at once, not at the next poll

    def _start_job(self, force: bool = False) -> None:
        if self.handle is None:
            return
        if self.worker is not None:
            if not force:
                return
            self._retire_worker()
        if self._retiring:
            self._pending = self._pending or force  # a poll simply comes back later
            return
        self.generation += 1
        state = self.state_combo.currentData()
        reuse = self.trace if self.trace is not None and self.trace.state == state else None
        job = DynamicsJob(self.generation, self.handle, state, -1 if force else self.known, reuse)
        worker = self.worker = DynamicsWorker(job)
        worker.progressed.connect(self._on_progress)
        worker.finishedJob.connect(self._on_outcome)
        worker.failed.connect(self._on_failed)
        worker.cancelledJob.connect(self._on_cancelled)
        worker.finished.connect(lambda: self._on_thread_finished(worker))
        self.progress.setValue(0)
        self.progress.setFormat("reading the checkpoints…")
        self._set_busy(True)
        worker.start()

    def _retire_worker(self) -> None:
        """Cancel the running job without waiting; it ends at its next progress report and is cleaned up then."""
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.cancel()
            self._retiring.append(worker)
        self.generation += 1  # whatever it still reports is stale
        self._set_busy(False)

    def _stop_worker(self) -> None:
        """Cancel every running job and wait for their threads (shutdown)."""
        self._retire_worker()
        self._pending = False
        for worker in list(self._retiring):
            worker.wait()
            self._on_thread_finished(worker)

    def _on_thread_finished(self, worker: DynamicsWorker) -> None:
        retired = worker in self._retiring
        if worker is self.worker:
            self.worker = None
            self._set_busy(False)
        elif retired:
            self._retiring.remove(worker)
        else:
            return
        worker.deleteLater()
        if self.worker is None and not self._retiring:
            self._close_idle_handles()
            if self._pending:
                self._pending = False
                self._start_job(force=True)
            elif retired:
                self._poll()  # a new session waited for the old job to wind down

    def _close_idle_handles(self) -> None:
        if self.worker is not None or self._retiring:
            return
        for handle in self._closing_handles:
            handle.close()
        self._closing_handles.clear()

    def _on_progress(self, report) -> None:
        generation, fraction, text = report
        if generation == self.generation:
            self.progress.setValue(int(fraction * PROGRESS_STEPS))
            self.progress.setFormat(f"{text} · %p%")

    def _on_outcome(self, outcome: DynamicsOutcome) -> None:
        if outcome.generation != self.generation:
            return
        name = html.escape(outcome.path.name)
        self.settled = outcome.complete
        if outcome.message:
            self.known = outcome.checkpoints
            self.trace = None
            self._show(None)
            waiting = "" if outcome.complete else " (checked again as the session grows)"
            self._say(f"{name}: {html.escape(outcome.message)}{waiting}")
            return
        if outcome.dynamics is None:  # nothing new
            return
        self.known = outcome.checkpoints
        self.trace = outcome.trace
        self.show_dynamics(outcome.dynamics, name, following=not outcome.complete)

    def _on_failed(self, failure) -> None:
        generation, message = failure
        if generation == self.generation:
            self.paused = True  # a broken file would fail again at every poll
            self._say(f'<span style="color:{palette.WRONG}">Cannot compute the dynamics: '
                      f"{html.escape(message.splitlines()[0])}</span>")

    def _on_cancelled(self, generation) -> None:
        if generation == self.generation:
            self._say("Cancelled. Press Compute to run it again.")

    def _state_chosen(self, *_) -> None:
        self.trace = None
        self.compute()

    def _set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.compute_button.setEnabled(not busy and self.handle is not None)

    # -- showing -------------------------------------------------------------------------------------------
    def show_dynamics(self, dynamics: HiddenDynamics, name: str = "", following: bool = False) -> None:
        """Draw a result; `name` (HTML) starts the status line."""
        self._show(dynamics)
        curves = dynamics.curves
        first, last = int(curves.checkpoints[0]), int(curves.checkpoints[-1])
        form = (f"(step, unit) points of {dynamics.samples} windows" if dynamics.point_step is not None
                else f"units over {dynamics.characters:,} probe characters")
        text = (f"{len(curves.checkpoints)} checkpoints (batches {first:,}–{last:,}) · {dynamics.units} {form}, "
                f"state {dynamics.state} · interslice_knn {dynamics.interslice_knn}, t = {dynamics.t}")
        follow = " · updated as the session adds checkpoints" if following else ""
        self._say(f"{name + ': ' if name else ''}{text}{follow}")

    def _show(self, dynamics: HiddenDynamics | None) -> None:
        self.dynamics = dynamics
        self.scatter.set_dynamics(dynamics)
        color = palette.HIGHLIGHT
        series = [] if dynamics is None else [CurveSeries(
            "", color, dynamics.curves.checkpoints, dynamics.curves.spread, dynamics.curves.communities)]
        self.curves.set_series(series)
        unit = self.selection.unit
        self.scatter.highlight_unit(unit.unit if unit is not None else None)
        self._checkpoint_changed(self.selection.checkpoint)

    def _say(self, text: str) -> None:
        self.status.setText(f'<span style="color:{palette.MUTED}">{text}</span>')

    # -- selection -------------------------------------------------------------------------------------------
    def _point_clicked(self, found) -> None:
        d = self.dynamics
        if d is None:
            return
        checkpoint, point = found
        self.selection.set_unit(UnitChoice(d.state, int(d.point_unit[point])))
        self.selection.set_checkpoint(int(d.checkpoints[checkpoint]))

    def _unit_changed(self, unit: UnitChoice | None) -> None:
        self.scatter.highlight_unit(unit.unit if unit is not None else None)
        self._checkpoint_changed(self.selection.checkpoint)

    def _checkpoint_changed(self, batch) -> None:
        d = self.dynamics
        self.curves.set_marker(batch)
        unit = self.selection.unit
        if d is None or unit is None or not 0 <= unit.unit < d.units:
            self.scatter.mark_point(None, None)
            return
        index = len(d.checkpoints) - 1 if batch is None else np.flatnonzero(d.checkpoints == batch)
        if not np.size(index):
            self.scatter.mark_point(None, None)
            return
        self.scatter.mark_point(int(np.ravel(index)[0]), int(d.curve_points()[unit.unit]))

    # -- layout --------------------------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        size = event.size()
        wide = size.width() > WIDE * size.height()
        orientation = Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical
        if self.splitter.orientation() != orientation:
            self.splitter.setOrientation(orientation)
            length = size.width() if wide else size.height()
            self.splitter.setSizes([length * 3 // 5, length * 2 // 5])

    def sizeHint(self) -> QSize:
        return QSize(520, 640)
