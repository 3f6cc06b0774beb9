"""The Dynamics view: how the hidden units organise themselves over training, as a scatter of every (checkpoint, unit)
beside the spread and community curves; computed off the GUI thread, and recomputed as a live session adds checkpoints."""

from __future__ import annotations

import html
import time

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QSplitter, QVBoxLayout, QWidget,
)

from ...analysis.hidden_dynamics import HiddenDynamics
from ...analysis.hidden_trace import HiddenTrace
from ...core.errors import RnnbowError
from ...storage.record_store import RecordStore
from ...storage.session_dynamics import no_dynamics_reason
from ..selection import SelectionModel, UnitChoice
from ..views import palette
from .curves import CurveSeries, DynamicsCurvesPlot
from .scatter import COLOR_BY, DynamicsScatter
from .worker import DynamicsJob, DynamicsOutcome, DynamicsWorker

POLL_MS = 2000  # how often the shown session's checkpoint count is compared with the result's (a cheap check)
# A growing session brings new checkpoints every second or so while it trains fast, and each update replays
# and embeds again (1–2 s of CPU at the paper's sizes) in this process, where the drawing and the worker that
# feeds the live views need the interpreter too. Updates therefore take at most this share of the time: after
# one that took d seconds, the next starts no sooner than d · (1 / UPDATE_DUTY − 1) later. Measured with
# benchmarks/bench_gui_latency.py: unthrottled, this view alone took the window from 31 % to 70 % of a core
# and its event-loop p99 from 25 ms to 95 ms.
UPDATE_DUTY = 0.1
MAX_UPDATE_WAIT = 8.0  # seconds: however long an update took, the next may start this long after it
PROGRESS_STEPS = 1000
WIDE = 1.3  # wider than tall by this much: curves beside the scatter, else below it
STATE_CHOICES = (("h", "hidden state h"), ("c", "cell state c"))


class DynamicsView(QWidget):
    """Scatter + curves for the shown session. Talks to the rest of the window only through the SelectionModel.

    `set_store(store, live)` shows a session; work starts when the view is visible (a hidden tab costs
    nothing) and again whenever the session has more checkpoints than the result on show (checked every
    POLL_MS). A `live` store's session (trained in this window) is refreshed here; a file's is refreshed by
    the window's follower. `show_dynamics` draws a result directly (what `rnnbow dynamics --out` renders).
    """

    def __init__(self, selection: SelectionModel, parent=None):
        super().__init__(parent)
        self.selection = selection
        self.store: RecordStore | None = None
        self.live = False
        self.cell: str | None = None
        self.trace: HiddenTrace | None = None
        self.dynamics: HiddenDynamics | None = None
        self.worker: DynamicsWorker | None = None
        self.generation = 0
        self.known = -1  # checkpoints in the file when the result (or the reason for none) on show was found
        self.paused = False  # the user cancelled, or the file failed: wait for Compute
        self._retiring: list[DynamicsWorker] = []  # cancelled jobs still computing (they no longer read the file)
        self._job_started = 0.0  # monotonic time the running job started
        self._next_update = 0.0  # monotonic time before which a growing session's result is not updated
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
        self.progress.setFormat("%p%")
        self.progress.setFixedWidth(90)
        self.stage = QLabel()  # what the job is doing: clipped, not wrapped, in a narrow dock
        self.stage.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.cancel_button = QPushButton("Cancel")
        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        color_label = QLabel("colour by")
        color_label.setBuddy(self.color_combo)  # hidden with it in a picture (offscreen.hide_controls)
        controls.addWidget(color_label)
        controls.addWidget(self.color_combo)
        controls.addWidget(self.state_combo)
        controls.addWidget(self.compute_button)
        controls.addWidget(self.progress)
        controls.addWidget(self.stage, 4)
        controls.addWidget(self.cancel_button)
        controls.addStretch(1)

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
        self.status.setToolTip(
            "interslice_knn links each unit's copies across checkpoints: a quarter of the number of checkpoints "
            "(at least 2), not M-PHATE's 25, which glues every unit's path into one place with ~20 checkpoints.\n"
            "t: the diffusion time, chosen at the knee of the von Neumann entropy.")

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
    def set_store(self, store: RecordStore | None, live: bool = False) -> None:
        """Show the dynamics of this store's session (None: none). A running job is cancelled; this returns once
        it no longer reads the old session, so the caller may close it."""
        self._retire_worker()
        self.store, self.live = store, live
        self.cell = store.config.cell if store is not None else None
        self.known = -1
        self.paused = False
        self.trace = None
        self._show(None)
        lstm = self.cell == "lstm"
        self.state_combo.blockSignals(True)
        self.state_combo.setCurrentIndex(0)
        self.state_combo.blockSignals(False)
        self.state_combo.setEnabled(lstm)
        self.state_combo.setVisible(lstm)
        if store is None:
            self.poll_timer.stop()
            self._say("Open or train a session with checkpoints to see how its hidden units organise themselves.")
            return
        self._say(f"{html.escape(store.title)}: computed when this view is shown")
        self.poll_timer.start()
        self._poll()

    def set_live(self, live: bool) -> None:
        """Whether the shown store's session is being written by this window's training (then it is refreshed
        here). Call it also before the store's session handle is replaced: a job still reading it is cancelled
        (the next poll starts it again); one already computing goes on."""
        if self.worker is not None and not self.worker.released.is_set():
            self._retire_worker()
        self.live = live  # the next poll (not now: the handle may be about to change) goes on

    def compute(self) -> None:
        """Compute now for the shown session, even if nothing changed (the Compute button)."""
        self.paused = False
        self.known = -1
        self._start_job()

    def cancel(self) -> None:
        """Stop the running computation; polling waits until Compute is pressed."""
        if self.worker is not None:
            self.worker.cancel()  # it reports cancelledJob, then ends
        self.paused = True

    def shutdown(self) -> None:
        """Stop polling and every job, waiting for their threads. Idempotent."""
        self.poll_timer.stop()
        self.store = None
        self._retire_worker()
        for worker in list(self._retiring):
            worker.wait()
            self._on_thread_finished(worker)

    @property
    def busy(self) -> bool:
        return self.worker is not None

    # -- jobs ----------------------------------------------------------------------------------------------
    def _poll(self) -> None:
        """Start a job when the session has checkpoints the result on show lacks (on the GUI thread: cheap)."""
        if self.store is None or self.busy or self.paused or not self.isVisible():
            return
        session = self.store.session
        if session is None:
            self._say(f"{html.escape(self.store.title)}: the session file cannot be read yet")
            return
        if self.live:
            try:
                session.refresh()  # the window reads this file only as needed while it trains
            except RnnbowError as exc:
                self.paused = True
                self._say(f"{html.escape(self.store.title)}: {html.escape(str(exc))}")
                return
        count = session.n_checkpoints
        if count == self.known:
            return
        if self.dynamics is not None and time.monotonic() < self._next_update:
            return  # an update of the result on show, too soon after the last one (UPDATE_DUTY)
        reason = no_dynamics_reason(session)
        if reason is not None:
            self.known = count
            self._show(None)
            growing = "" if session.info.complete else " (checked again as the session grows)"
            self._say(f"{html.escape(self.store.title)}: {html.escape(reason)}{growing}")
            return
        self._start_job()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        QTimer.singleShot(0, self, self._poll)  # a tab brought forward computes at once, not at the next poll

    def _start_job(self) -> None:
        if self.store is None or self.store.session is None:
            return
        self._retire_worker()
        self.generation += 1
        state = self.state_combo.currentData()
        reuse = self.trace if self.trace is not None and self.trace.state == state else None
        worker = self.worker = DynamicsWorker(DynamicsJob(self.generation, self.store.session, state, reuse))
        worker.progressed.connect(self._on_progress)
        worker.finishedJob.connect(self._on_outcome)
        worker.failed.connect(self._on_failed)
        worker.cancelledJob.connect(self._on_cancelled)
        worker.finished.connect(lambda: self._on_thread_finished(worker))
        self.progress.setValue(0)
        self._show_stage("reading the checkpoints")
        self._set_busy(True)
        self._job_started = time.monotonic()
        worker.start()

    def _retire_worker(self) -> None:
        """Cancel the running job and wait until it no longer reads the session (a moment); its thread is
        cleaned up when it ends."""
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.release()
            self._retiring.append(worker)
        self.generation += 1  # whatever it still reports is stale
        self._set_busy(False)

    def _on_thread_finished(self, worker: DynamicsWorker) -> None:
        if worker is self.worker:
            self.worker = None
            self._set_busy(False)
            now = time.monotonic()
            self._next_update = now + min(MAX_UPDATE_WAIT, (now - self._job_started) * (1 / UPDATE_DUTY - 1))
        elif worker in self._retiring:
            self._retiring.remove(worker)
        else:
            return
        worker.deleteLater()

    def _on_progress(self, report) -> None:
        generation, fraction, text = report
        if generation == self.generation:
            self.progress.setValue(int(fraction * PROGRESS_STEPS))
            self._show_stage(text)

    def _on_outcome(self, outcome: DynamicsOutcome) -> None:
        if outcome.generation != self.generation or self.store is None:
            return
        self.known = outcome.checkpoints
        self.trace = outcome.trace
        session = self.store.session
        growing = session is not None and not session.info.complete
        self.show_dynamics(outcome.dynamics, html.escape(self.store.title), following=growing, of=outcome.checkpoints)

    def _on_failed(self, failure) -> None:
        generation, message = failure
        if generation == self.generation:
            self.paused = True  # a broken file would fail again at every poll: wait for Compute
            self._say(f'<span style="color:{palette.WRONG}">Cannot compute the dynamics: '
                      f"{html.escape(message.splitlines()[0])}</span>")

    def _on_cancelled(self, generation) -> None:
        if generation == self.generation:
            self._say("Cancelled. Press Compute to run it again.")

    def _show_stage(self, text: str) -> None:
        self.stage.setText(f'<span style="color:{palette.MUTED}">{html.escape(text)}…</span>')
        self.stage.setToolTip(text)

    def _state_chosen(self, *_) -> None:
        self.trace = None
        self.compute()

    def _set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.stage.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.compute_button.setEnabled(not busy and self.store is not None)

    # -- showing -------------------------------------------------------------------------------------------
    def show_dynamics(self, dynamics: HiddenDynamics, name: str = "", following: bool = False, of: int = 0) -> None:
        """Draw a result; `name` (HTML) starts the status line; `of`: the session's checkpoints, when the result
        uses some of them (WINDOW_CHECKPOINTS at most)."""
        self._show(dynamics)
        curves = dynamics.curves
        first, last = int(curves.checkpoints[0]), int(curves.checkpoints[-1])
        shown = len(curves.checkpoints)
        count = f"{shown} of {of:,} checkpoints, spread over training" if of > shown else f"{shown} checkpoints"
        form = (f"(step, unit) points of {dynamics.samples} windows" if dynamics.point_step is not None
                else f"units over {dynamics.characters:,} probe characters")
        text = (f"{count} (batches {first:,}–{last:,}) · {dynamics.units} {form}, "
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
