"""Keeping the main window up to date with a growing session: the frame clock that draws live data, and the
poll that follows a file another process writes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, QTimer

from ..analysis.smoothing import initial_smooth_loss, smooth_loss_series
from ..core.errors import RnnbowError
from ..core.loss_smoothing import per_character
from ..storage.reader import Session
from ..storage.record_store import RecordStore
from .worker import TrainingSnapshot

if TYPE_CHECKING:
    from .mainwindow import MainWindow

# Live data reaches the views from a timer, however fast batches arrive. Each tick draws one part of
# a frame (see draw_frame), so the event loop is never blocked for a whole redraw: the batch views
# move to the newest record, the overview with the status line, and the loss curve, each 3.3 times a
# second. Measured offscreen on a 2-core VM (CPU time, see benchmarks/bench_gui_latency.py): moving the
# batch views costs 10–15 ms (now and then over 25 ms), the overview 4–8 ms and the loss curve 6–8 ms
# (axes re-laid as the ranges grow). At the former 8 Hz for both halves, drawing took ~30 % of a core:
# CPU that the training process lacked on a 2-core machine; with the batch views at 5 Hz the event
# loop's p99 was 26–31 ms, at 3.3 Hz 25–28 ms (target ≤ 30).
FRAME_MS = 100
FRAME_PARTS = ("batch", "overview", "loss")  # what successive ticks draw, round and round
POLL_MS = 1000  # how often a session another process writes is checked for new records
HISTORY_SLICE = 1_000_000  # batch losses read at once, so a run of millions never sits in memory twice


class SessionFollower(QObject):
    """Brings new records, losses and samples to the window's views, loss curve and status line.

    Live training: snapshots are taken in as they arrive and drawn by the frame clock. An opened
    file: its loss history is read once, then the file is polled for what its writer adds.
    """

    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.window = window
        self.dirty = False  # new figures for the status bar and loss curve since the last frame
        self.overview_records = 0  # len(store) when the overview was last extended
        self.followed_records = 0  # len(store) when follow-live last selected the newest record
        self.ticks = 0  # frame timer ticks so far; picks the part of FRAME_PARTS a tick draws
        self.held = False  # the worker waits for the window to paint a frame
        self.history_batches = 0  # loss rows of a file-backed session already on the curve
        self.history_smooth = 0.0
        self.history_samples = 0
        self.writer_stopped = False  # the open unfinished file's writer is gone (its reader said so)

        self.frame_timer = QTimer(self)
        self.frame_timer.setInterval(FRAME_MS)
        self.frame_timer.timeout.connect(self.draw_frame)
        self.frame_timer.start()
        self.poll_timer = QTimer(self)
        self.poll_timer.setInterval(POLL_MS)
        self.poll_timer.timeout.connect(self.poll_file)

    def stop(self) -> None:
        self.frame_timer.stop()
        self.poll_timer.stop()

    def new_store(self, store: RecordStore) -> None:
        """The window shows another store: what it holds now counts as drawn; no file is followed yet."""
        self.poll_timer.stop()
        self.overview_records = self.followed_records = len(store)

    # -- live training ---------------------------------------------------------------------------------
    def take_snapshot(self, snapshot: TrainingSnapshot) -> None:
        window = self.window
        store = window.store
        if store is None:
            return
        for record in snapshot.records:
            store.append(record)
        window.loss_curve.append(snapshot.loss_batches, per_character(snapshot.smooth_losses, store.config.seq_length))
        if snapshot.samples:
            window.samples.add_samples((s.batch, s.text) for s in snapshot.samples)
        self.dirty = True

    # -- an opened file ----------------------------------------------------------------------------------
    def load_history(self, store: RecordStore) -> None:
        """Loss curve and generated text of a file-backed session, as far as it is written."""
        window = self.window
        window.loss_curve.clear()
        window.samples.clear_samples()
        self.history_batches = 0
        # A recorded PyTorch module's loss has no known starting point (its vocabulary may be unknown, its
        # loss reduced over a batch): its curve starts at its first batch's loss (NaN until there is one).
        self.history_smooth = (initial_smooth_loss(len(store.vocab), store.config.seq_length) if store.has_model
                               else float("nan"))
        self.history_samples = 0
        self.read_new_history(store.session)
        window.loss_curve.refresh(force=True)

    def read_new_history(self, session: Session) -> None:
        total = session.batches_trained
        if total and not np.isfinite(self.history_smooth):
            self.history_smooth = float(session.training_loss(0, 1)[0])
        while self.history_batches < total:
            lo, hi = self.history_batches, min(total, self.history_batches + HISTORY_SLICE)
            smooth = smooth_loss_series(session.training_loss(lo, hi), self.history_smooth)
            if len(smooth):
                self.history_smooth = float(smooth[-1])
                self.window.loss_curve.append(np.arange(lo, lo + len(smooth)),
                                              per_character(smooth, session.info.config.seq_length))
            self.history_batches = lo + len(smooth) if len(smooth) else total
        if session.n_samples > self.history_samples:
            try:
                samples = session.samples()
            except RnnbowError:
                if session.info.complete:
                    raise
                # Text is stored with variable length, which HDF5 cannot always read back while another process
                # appends (its text heap seen mid-write): the records and losses go on; the text is tried again.
                return
            self.window.samples.add_samples(samples[self.history_samples:])
            self.history_samples = len(samples)

    def reattach_session(self) -> None:
        """Swap the read handle opened during writing for a plain one now that the file is complete."""
        store, path = self.window.store, self.window.session_path
        if store is None or path is None:
            return
        if store.session is not None:
            store.session.close()
        try:
            store.attach_session(Session(path))
        except RnnbowError:
            store.session = None

    def follow_file(self) -> None:
        self.poll_timer.start()

    def poll_file(self) -> None:
        window = self.window
        store = window.store
        if window.training or store is None or store.session is None:
            return
        try:
            grew = store.refresh()
            if grew or store.session.batches_trained > self.history_batches:
                self.read_new_history(store.session)
                self.writer_stopped = False
                self.dirty = True
        except RnnbowError as exc:
            self.poll_timer.stop()
            window.statusBar().showMessage(f"Stopped following the file: {exc}")

    # -- frames ----------------------------------------------------------------------------------------
    def draw_frame(self) -> None:
        """The only place live data reaches the views, from the frame timer.

        Ticks take turns (FRAME_PARTS): moving the batch views to the newest record, the overview
        with the status line, the loss curve. Each tick paints only a part of a full redraw, so the
        event loop is never blocked for all of it at once. A minimized window draws nothing (what it
        missed is drawn when it is shown again).
        """
        window = self.window
        part = FRAME_PARTS[self.ticks % len(FRAME_PARTS)]
        self.ticks += 1
        if window.isMinimized():
            return
        store = window.store
        count = len(store) if store is not None else 0
        if part == "overview":
            due = self.dirty or count != self.overview_records
        elif part == "loss":
            due = window.loss_curve.due
        else:
            due = (window.selection.follow_live and count and count != self.followed_records
                   and not self._reading_a_batch())
        if not due:
            return
        worker = window.training_controller.worker
        if worker is not None and window.isVisible():
            # Released by painted() once the window has painted what this tick changed.
            worker.hold()
            self.held = True
        if part == "overview":
            self._update_overview()
        elif part == "loss":
            window.loss_curve.refresh()
        else:
            self._follow_newest()

    def painted(self) -> None:
        """The window has painted (its UpdateRequest was handled): let a held worker go on."""
        if self.held:
            self.held = False
            # Posted now, so it runs after what the paint itself queued (pyqtgraph's range updates).
            QTimer.singleShot(0, self._release_worker)

    def _release_worker(self) -> None:
        worker = self.window.training_controller.worker
        if worker is not None:
            worker.release()

    def draw_everything(self) -> None:
        """All parts of a frame at once, for the final state of a run."""
        self._update_overview()
        if self.window.selection.follow_live:
            self._follow_newest()
        self.window.loss_curve.refresh(force=True)

    def _update_overview(self) -> None:
        window = self.window
        self.dirty = False
        count = len(window.store) if window.store is not None else 0
        if count != self.overview_records:
            self.overview_records = count
            window.views.records_appended()
        window.update_status()

    def _follow_newest(self) -> None:
        window = self.window
        count = len(window.store) if window.store is not None else 0
        self.followed_records = count
        if count:
            window.selection.select(count - 1, user=False)

    def _reading_a_batch(self) -> bool:
        """The user is hovering a loss in area 2: following live would swap the batch (and clear the
        highlighted horizon) under their hand every frame. The overview keeps growing meanwhile."""
        selection = self.window.selection
        return selection.selected is not None and selection.hovered_loss is not None
