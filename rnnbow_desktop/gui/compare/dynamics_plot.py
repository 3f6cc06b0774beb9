"""(c) of the comparison: the spread and community curves of every session's hidden units over training (issue 15).

MM-PHATE compares architectures by exactly these: when the units spread out and when they gather into
communities. Each session is embedded on its own (multislice PHATE of its checkpoints), so spreads are
drawn as a share of each session's own maximum. Sessions without checkpoints are named in the note.
"""

from __future__ import annotations

import html
from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from ...analysis.hidden_dynamics import HiddenDynamics
from ...core.errors import Cancelled, RnnbowError
from ...storage.session_dynamics import no_dynamics_reason, session_dynamics
from ..dynamics.curves import CurveSeries, DynamicsCurvesPlot
from ..dynamics.worker import WINDOW_CHECKPOINTS, DynamicsJob, DynamicsOutcome, DynamicsWorker
from ..views import palette
from .overlay import header_label
from .sessions import ComparedSession

PROGRESS_STEPS = 1000


class DynamicsComparePlot(QWidget):
    """(c) Spread (share of each session's maximum) and unit communities over training, one colour per session.

    `start()` computes the sessions one after another off the GUI thread (the window calls it when first
    shown); `compute_now()` does it on the calling thread (drawing to a file). Either way each session's
    result or the reason it has none ends up in `results`.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self.sessions: list[ComparedSession] = []
        self.results: dict[int, HiddenDynamics | str] = {}  # session index → result, or why there is none
        self.worker: DynamicsWorker | None = None
        self.queue: list[int] = []  # session indices still to compute, the running one first
        self.jobs = 0  # how many the background run started with
        self.started = False

        self.header = header_label(
            "Hidden units over training",
            "multislice PHATE of each session's checkpoints: spread of the units, and how many communities they form",
        )
        self.curves = DynamicsCurvesPlot(relative_spread=True)
        self.progress = QProgressBar()
        self.progress.setRange(0, PROGRESS_STEPS)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        busy = QHBoxLayout()
        busy.setContentsMargins(0, 0, 0, 0)
        busy.addWidget(self.progress, 1)
        busy.addWidget(self.cancel_button)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.header)
        layout.addLayout(busy)
        layout.addWidget(self.curves, 1)
        layout.addWidget(self.note)
        self._set_busy(False)

    def set_sessions(self, sessions: list[ComparedSession]) -> None:
        """The sessions to compare; those that cannot show dynamics (no checkpoints) are settled at once."""
        self.sessions = list(sessions)
        self.results = {}
        for i, s in enumerate(self.sessions):
            reason = no_dynamics_reason(s.store.session) if s.store.session is not None else "no session file"
            if reason is not None:
                self.results[i] = reason
        self.queue = [i for i in range(len(self.sessions)) if i not in self.results]
        self._redraw()

    # -- computing -----------------------------------------------------------------------------------------
    def compute_now(self, progress: Callable[[float, str], None] | None = None) -> None:
        """Compute every session still to do, here and now. progress(fraction, text) covers them all;
        raising `Cancelled` from it stops (the sessions done so far are kept)."""
        todo, self.queue = self.queue, []
        self.started = True
        for n, i in enumerate(todo):
            s = self.sessions[i]

            def report(fraction: float, text: str, n=n, cell=s.cell) -> None:
                if progress is not None:
                    progress((n + fraction) / len(todo), f"{cell}: {text}")

            try:
                self.results[i] = session_dynamics(s.store.session, progress=report, max_checkpoints=WINDOW_CHECKPOINTS)[1]
            except RnnbowError as exc:
                self.results[i] = str(exc)
            except Cancelled:
                for rest in todo[n:]:
                    self.results[rest] = "cancelled"
                self._redraw()
                raise
        self._redraw()

    def start(self) -> None:
        """Compute the sessions still to do off the GUI thread, one after another (once)."""
        if not self.started:
            self.started = True
            self.jobs = len(self.queue)
            self._redraw()
            self._next()

    def _next(self) -> None:
        if self.worker is not None or not self.queue:
            self._set_busy(False)
            return
        i = self.queue[0]
        # The session handle the comparison already has open: a second one would read a growing file stale.
        worker = self.worker = DynamicsWorker(DynamicsJob(i, self.sessions[i].store.session))
        worker.progressed.connect(self._on_progress)
        worker.finishedJob.connect(self._on_outcome)
        worker.failed.connect(lambda failure: self._settle(failure[0], failure[1].splitlines()[0]))
        worker.cancelledJob.connect(lambda i: self._settle(i, "cancelled"))
        worker.finished.connect(lambda: self._on_thread_finished(worker))
        self._set_busy(True)
        self.progress.setValue(0)
        worker.start()

    def _on_progress(self, report) -> None:
        i, fraction, text = report
        self.progress.setValue(int(PROGRESS_STEPS * min(1.0, fraction)))
        number = self.jobs - len(self.queue) + 1
        self.progress.setFormat(f"session {number} of {self.jobs} ({self.sessions[i].cell}): {text} · %p%")

    def _on_outcome(self, outcome: DynamicsOutcome) -> None:
        self._settle(outcome.generation, outcome.dynamics)

    def _settle(self, i: int, result: HiddenDynamics | str) -> None:
        self.results[i] = result
        if i in self.queue:
            self.queue.remove(i)
        self._redraw()

    def _on_thread_finished(self, worker: DynamicsWorker) -> None:
        if worker is not self.worker:
            return
        self.worker = None
        worker.deleteLater()
        self._next()

    def cancel(self) -> None:
        """Stop the session being computed and skip the rest (each is noted as cancelled)."""
        for i in self.queue[1:]:
            self.results[i] = "cancelled"
        self.queue = self.queue[:1]
        if self.worker is not None:
            self.worker.cancel()
        self._redraw()

    def shutdown(self) -> None:
        """Stop and wait for the running job (before the sessions are closed). Idempotent."""
        self.queue = []
        worker = self.worker
        if worker is not None:
            worker.cancel()
            worker.wait()
            self._on_thread_finished(worker)

    def _set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)

    # -- drawing -------------------------------------------------------------------------------------------
    def _redraw(self) -> None:
        series, notes = [], []
        for i, s in enumerate(self.sessions):
            result = self.results.get(i)
            key = f'<span style="color:{s.color}">■</span> {html.escape(s.cell)}'
            if isinstance(result, HiddenDynamics):
                curves = result.curves
                series.append(CurveSeries(s.label, s.color, curves.checkpoints, curves.spread, curves.communities))
                notes.append(f"{key}: {len(curves.checkpoints)} checkpoints, t = {result.t}")
            elif isinstance(result, str):
                notes.append(f"{key}: {html.escape(result)}")
            else:
                notes.append(f"{key}: computing…" if self.started else f"{key}: to be computed")
        self.curves.set_series(series)
        self.note.setText(f'<span style="color:{palette.MUTED}">{" &nbsp; ".join(notes)}</span>')

