"""The main window: the four gradient views in the middle, training on the left, loss and generated text below."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, QEvent, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog, QDockWidget, QFileDialog, QGroupBox, QLabel, QMainWindow, QMessageBox, QScrollArea, QStackedWidget,
    QVBoxLayout, QWidget,
)

from ..core.corpus import Corpus
from ..core.errors import RnnbowError
from ..storage.paths import default_session_path
from ..storage.record_store import RecordStore
from ..storage.reader import Session
from ..storage.run import TrainingRun
from .app import open_settings
from .corpus_picker import CorpusPicker
from .dialogs.about import AboutDialog
from .dialogs.errors import show_error_dialog
from .dialogs.help import HelpDialog
from .gradient_views import GradientViews
from .icon import app_icon
from .live_panels import LossCurve, SamplesPanel, TrainingStatus, initial_smooth_loss, smooth_loss_series
from .selection import SelectionModel
from .training_panel import IDLE, PAUSED, RUNNING, STOPPING, TrainingPanel
from .worker import TrainingSnapshot, TrainingWorker, WorkerFailure

# Live data reaches the views from a timer, however fast batches arrive. Redrawing the four views for
# a new batch costs ~20 ms of GUI time (measured offscreen, benchmarks/bench_gui_latency.py), so each
# tick draws half of it (see _draw_frame): the batch views then move to the newest record about
# 8 times a second, as fast as anyone can read one, and the window stays responsive.
FRAME_MS = 62
POLL_MS = 1000  # how often a session another process writes is checked for new records
CLOSE_WAIT_MS = 1800  # closing must leave a complete session within 2 s
MAX_RECENT = 10
SESSION_SUFFIXES = (".h5", ".hdf5")
SESSION_FILTER = "RNNbow sessions (*.h5 *.hdf5)"
EXPORT_FILTERS = {"PNG image (*.png)": "png", "SVG drawing (*.svg)": "svg"}

WELCOME_HTML = """
<div align="center">
<h1>RNNbow</h1>
<p style="font-size: large">Watch a recurrent network learn, one batch at a time.</p>
<p style="font-size: large">1. Choose a corpus on the left.<br>
2. Press <b>Start training</b>.</p>
<p>Or open a saved session: <b>File › Open</b> (Ctrl+O), or drop a <tt>.h5</tt> file here.</p>
<p>Press <b>F1</b> to learn what the four views show.</p>
</div>
"""


class MainWindow(QMainWindow):
    def __init__(self, settings=None, parent=None):
        super().__init__(parent)
        self.settings = settings if settings is not None else open_settings()
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.selection = SelectionModel(self)
        self.store: RecordStore | None = None
        self.session_path: Path | None = None
        self.worker: TrainingWorker | None = None
        self.last_snapshot: TrainingSnapshot | None = None
        self._generation = 0
        self._start_when_loaded = False
        self._dirty = False  # new figures for the status bar and loss curve since the last frame
        self._overview_records = 0  # len(store) when the overview was last extended
        self._followed_records = 0  # len(store) when follow-live last selected the newest record
        self._phase = 0  # which half of a frame the next tick draws
        self._history_batches = 0  # loss rows of a file-backed session already on the curve
        self._history_smooth = 0.0
        self._history_samples = 0
        self._help: HelpDialog | None = None
        self.compare_windows: list = []  # open "Compare sessions" windows, kept alive and closed with this one
        self._shut_down = False
        self._held = False  # the worker waits for this window to paint a frame
        self._store_is_live = False  # the shown store was trained in this window

        self.views = GradientViews(self.selection)
        self.welcome = QLabel(WELCOME_HTML)
        self.welcome.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.welcome.setWordWrap(True)
        self.central = QStackedWidget()
        self.central.addWidget(self.welcome)
        self.central.addWidget(self.views)
        self.setCentralWidget(self.central)

        self.picker = CorpusPicker()
        self.panel = TrainingPanel()
        self._build_docks()
        self.status = TrainingStatus(self.statusBar())
        self._build_actions()

        self.picker.corpusChanged.connect(self._on_corpus_changed)
        self.picker.loadFailed.connect(self._on_corpus_failed)
        self.picker.tree.currentItemChanged.connect(lambda *_: self.panel.set_can_start(self.picker.current_spec is not None))
        self.panel.startRequested.connect(self.start_training)
        self.panel.pauseRequested.connect(self.pause_training)
        self.panel.resumeRequested.connect(self.resume_training)
        self.panel.stopRequested.connect(self.stop_training)
        self.panel.stateChanged.connect(self._sync_actions)

        self.frame_timer = QTimer(self)
        self.frame_timer.setInterval(FRAME_MS)
        self.frame_timer.timeout.connect(self._draw_frame)
        self.frame_timer.start()
        self._writer_stopped = False  # the open unfinished file's writer is gone (its reader said so)
        self.poll_timer = QTimer(self)
        self.poll_timer.setInterval(POLL_MS)
        self.poll_timer.timeout.connect(self._poll_file)

        self._restore_settings()
        self._update_title()
        self._update_status()
        self._sync_actions()

    # -- layout -------------------------------------------------------------------------------------
    def _build_docks(self) -> None:
        corpus_box = QGroupBox("1 · Corpus")
        QVBoxLayout(corpus_box).addWidget(self.picker)
        train_box = QGroupBox("2 · Train")
        QVBoxLayout(train_box).addWidget(self.panel)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.addWidget(corpus_box, 1)
        side_layout.addWidget(train_box)
        scroll = QScrollArea()
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setMinimumWidth(310)
        self.train_dock = self._dock("Train a network", "train", scroll, Qt.DockWidgetArea.LeftDockWidgetArea)

        self.loss_curve = LossCurve()
        self.loss_dock = self._dock("Training loss", "loss", self.loss_curve, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.samples = SamplesPanel()
        self.samples_dock = self._dock("Generated text", "samples", self.samples, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.splitDockWidget(self.loss_dock, self.samples_dock, Qt.Orientation.Horizontal)
        # The training column runs the full height, so Start stays visible above the bottom panels.
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.resizeDocks([self.train_dock], [380], Qt.Orientation.Horizontal)
        self.resizeDocks([self.loss_dock], [175], Qt.Orientation.Vertical)

    def _dock(self, title: str, name: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{name}")  # saveState() needs stable names
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def _action(self, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)  # shortcuts work even when the menu bar is hidden
        return action

    def _build_actions(self) -> None:
        self.open_action = self._action("&Open Session…", self.open_session_dialog, QKeySequence.StandardKey.Open)
        self.compare_action = self._action("&Compare Sessions…", self.compare_sessions_dialog, None,
                                           "Open two or more sessions side by side, e.g. the same corpus trained with rnn, lstm and gru")
        self.save_as_action = self._action("Save Session &As…", self.save_as, "Ctrl+Shift+S",
                                           "Copy the session file to a place of your choice")
        self.export_action = self._action("&Export Views…", self.export_views, "Ctrl+E", "Save the four views as PNG or SVG")
        self.quit_action = self._action("&Quit", self.close, "Ctrl+Q")
        self.recent_menu = None

        self.start_action = self._action("&Start", self.start_training)
        self.pause_action = self._action("&Pause / Resume", self.toggle_pause)
        self.stop_action = self._action("S&top", self.stop_training)

        self.prev_action = self._action("&Previous Batch", lambda: self.step_record(-1), Qt.Key.Key_Left)
        self.next_action = self._action("&Next Batch", lambda: self.step_record(1), Qt.Key.Key_Right)
        self.first_action = self._action("&First Batch", self.first_record, Qt.Key.Key_Home)
        self.last_action = self._action("&Last Batch", self.last_record, Qt.Key.Key_End)

        self.help_action = self._action("RNNbow &Help", self.show_help, QKeySequence.StandardKey.HelpContents)
        self.about_action = self._action("&About RNNbow Desktop", self.show_about)

        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addAction(self.compare_action)
        file_menu.addSeparator()
        file_menu.addAction(self.save_as_action)
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        train_menu = bar.addMenu("&Training")
        for action in (self.start_action, self.pause_action, self.stop_action):
            train_menu.addAction(action)
        view_menu = bar.addMenu("&View")
        for action in (self.prev_action, self.next_action, self.first_action, self.last_action):
            view_menu.addAction(action)
        view_menu.addSeparator()
        for dock in (self.train_dock, self.loss_dock, self.samples_dock):
            view_menu.addAction(dock.toggleViewAction())
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.help_action)
        help_menu.addAction(self.about_action)

    # -- hooks tests replace (dialogs that would otherwise wait for a person) --------------------
    def show_error(self, title: str, message: str, details: str = "") -> None:
        """Tell the user something went wrong; never blocks."""
        show_error_dialog(self, title, message, details)

    def ask_yes_no(self, title: str, question: str) -> bool:
        answer = QMessageBox.question(self, title, question)
        return answer == QMessageBox.StandardButton.Yes

    def ask_open_path(self, caption: str, file_filter: str) -> Path | None:
        path, _ = QFileDialog.getOpenFileName(self, caption, self._last_dir(), file_filter)
        return Path(path) if path else None

    def ask_open_paths(self, caption: str, file_filter: str) -> list[Path]:
        """A dialog choosing several existing files (none if cancelled), starting in the current session's folder."""
        folder = str(self.session_path.parent) if self.session_path is not None else self._last_dir()
        paths, _ = QFileDialog.getOpenFileNames(self, caption, folder, file_filter)
        return [Path(p) for p in paths]

    def ask_save_path(self, caption: str, suggested: Path, filters: dict[str, str]) -> Path | None:
        """A save dialog that appends the chosen filter's suffix and asks before replacing a file."""
        dialog = QFileDialog(self, caption, str(suggested))
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setFileMode(QFileDialog.FileMode.AnyFile)
        dialog.setNameFilters(list(filters))
        suffix = suggested.suffix.lstrip(".").lower()
        for name, ext in filters.items():
            if ext == suffix:
                dialog.selectNameFilter(name)
        dialog.setDefaultSuffix(suffix or next(iter(filters.values())))
        dialog.filterSelected.connect(lambda name: dialog.setDefaultSuffix(filters.get(name, suffix)))
        if dialog.exec() != QDialog.DialogCode.Accepted or not dialog.selectedFiles():
            return None
        return Path(dialog.selectedFiles()[0])

    # -- command line ---------------------------------------------------------------------------------
    def apply_command_line(self, session: Path | None = None, corpus: str | None = None,
                           start: bool = False, out: Path | None = None) -> None:
        """What `rnnbow gui [SESSION] [--corpus C] [--start] [--out F]` asks for; problems go to dialogs."""
        if out is not None:
            self.panel.set_out_path(Path(out))
        if corpus is not None:
            self.picker.select_spec(corpus)
        else:
            last = self.settings.value("corpus/last", "", type=str)
            self.picker.select_spec(last if last and self._corpus_still_there(last) else "c-like")
        if session is not None:
            self.open_session(Path(session))
        if start:
            self.start_training()

    @staticmethod
    def _corpus_still_there(spec: str) -> bool:
        from ..core.corpus import BUILTIN_CORPORA
        from ..core.samples import SAMPLES

        return spec in SAMPLES or spec in BUILTIN_CORPORA or Path(spec).exists()

    # -- corpus -------------------------------------------------------------------------------------
    def _on_corpus_changed(self, corpus: Corpus | None) -> None:
        self.panel.set_can_start(self.picker.current_spec is not None)
        if corpus is not None and self._start_when_loaded:
            self._start_when_loaded = False
            self.start_training()

    def _on_corpus_failed(self, spec: str, message: str) -> None:
        waiting = self._start_when_loaded
        self._start_when_loaded = False
        if waiting:
            self._update_status()
        self.show_error("Cannot use this corpus", message)

    # -- training -------------------------------------------------------------------------------------
    @property
    def training(self) -> bool:
        return self.worker is not None

    def start_training(self) -> None:
        if self.worker is not None:
            return
        if self.picker.current_spec is None:
            self.show_error("No corpus chosen", "Choose a corpus to train on first.")
            return
        corpus = self.picker.corpus
        if corpus is None:
            if self.picker.loading:
                # Starts from _on_corpus_changed once the corpus has loaded.
                self._start_when_loaded = True
                self.statusBar().showMessage("Loading the corpus; training starts when it is ready…")
            else:
                self.show_error("Cannot use this corpus", "The chosen corpus could not be loaded.")
            return
        config = self.panel.config()
        out = self.panel.out_path
        if out is not None and out.exists() and not self.panel.out_confirmed:
            self.show_error("The session file already exists",
                            f"{out} already exists and is left as it is. Choose another file with "
                            "Session file › Choose… (it asks before replacing a file).")
            return
        try:
            config.validate()
            out = out or default_session_path(corpus.name, config.cell)
            run = TrainingRun(corpus, config, out, force=self.panel.out_confirmed)
        except RnnbowError as exc:
            self.show_error("Cannot start training", str(exc))
            return
        except OSError as exc:  # e.g. the per-user sessions folder cannot be created
            self.show_error("Cannot start training", f"{exc.filename or ''}: {exc.strerror or exc}")
            return
        # A chosen file is used once: the next run gets a new default name instead of failing.
        self.panel.set_out_path(None)
        self._begin_live(run, corpus)

    def _begin_live(self, run: TrainingRun, corpus: Corpus) -> None:
        store = RecordStore.live(run.trainer.config, corpus.vocab, run.path.name)
        try:
            # Records that leave the store's memory cache are read back from the file being written.
            store.attach_session(Session(run.path))
        except RnnbowError:
            pass  # the views still work on the cached (most recent) records
        self._set_store(store, run.path)
        self._store_is_live = True
        self.loss_curve.clear()
        self.samples.clear_samples()
        self.last_snapshot = None
        self._generation += 1
        worker = TrainingWorker(run, self._generation)
        worker.snapshot.connect(self._on_snapshot)
        worker.failed.connect(self._on_worker_failed)
        worker.finishedRun.connect(self._on_worker_finished)
        self.worker = worker
        self.panel.set_state(RUNNING)
        self._add_recent(run.path)
        worker.start()
        self.statusBar().clearMessage()
        self._update_status()

    def pause_training(self) -> None:
        if self.worker is not None and self.panel.state == RUNNING:
            self.worker.pause()
            self.panel.set_state(PAUSED)
            self._update_status()

    def resume_training(self) -> None:
        if self.worker is not None and self.panel.state == PAUSED:
            self.worker.resume()
            self.panel.set_state(RUNNING)
            self._update_status()

    def toggle_pause(self) -> None:
        if self.panel.state == PAUSED:
            self.resume_training()
        else:
            self.pause_training()

    def stop_training(self, wait: bool = False, timeout_ms: int | None = None) -> bool:
        """Ask the worker to stop; with `wait`, block until the session file is complete."""
        worker = self.worker
        if worker is None:
            return True
        worker.stop()
        self.panel.set_state(STOPPING)
        self._update_status()
        if not wait:
            return True
        done = worker.wait(timeout_ms) if timeout_ms is not None else worker.wait()
        if done:
            self._on_worker_finished(worker.generation)
        return done

    def _on_snapshot(self, snapshot: TrainingSnapshot) -> None:
        if snapshot.generation != self._generation or self.store is None:
            return  # from a run this window has moved on from
        for record in snapshot.records:
            self.store.append(record)
        self.loss_curve.append(snapshot.loss_batches, snapshot.smooth_losses)
        if snapshot.samples:
            self.samples.add_samples((s.batch, s.text) for s in snapshot.samples)
        self.last_snapshot = snapshot
        self._dirty = True

    def _on_worker_failed(self, failure: WorkerFailure) -> None:
        self.show_error(failure.title, f"{failure.message}\n\nThe session so far is kept in {failure.path}.",
                        failure.details)

    def _on_worker_finished(self, generation: int) -> None:
        worker = self.worker
        if worker is None or worker.generation != generation:
            return
        worker.wait()  # run() has returned; this only joins the thread
        self.worker = None
        # Anything the run still has queued (when we stopped it and waited) is now stale.
        self._generation += 1
        worker.deleteLater()
        self.panel.set_state(IDLE)
        self._reattach_session()
        self._draw_everything()

    def _reattach_session(self) -> None:
        """Swap the read handle opened during writing for a plain one now that the file is complete."""
        store, path = self.store, self.session_path
        if store is None or path is None:
            return
        if store.session is not None:
            store.session.close()
        try:
            store.attach_session(Session(path))
        except RnnbowError:
            store.session = None

    # -- sessions -----------------------------------------------------------------------------------
    def open_session_dialog(self) -> None:
        path = self.ask_open_path("Open a session", f"{SESSION_FILTER};;All files (*)")
        if path is not None:
            self.open_session(path)

    def compare_sessions_dialog(self) -> None:
        """File › Compare Sessions…: choose two or more session files and open them side by side."""
        paths = self.ask_open_paths("Choose two or more sessions to compare", f"{SESSION_FILTER};;All files (*)")
        if not paths:
            return
        self.settings.setValue("paths/last_dir", str(paths[0].parent))
        if len(paths) < 2:
            self.show_error("Choose at least two sessions",
                            f"Comparing needs two or more session files; only {paths[0].name} was chosen.\n\n"
                            "Hold Ctrl (⌘ on a Mac) or Shift while clicking to choose several files.")
            return
        from PySide6.QtWidgets import QApplication

        from .compare_window import CompareWindow

        self.statusBar().showMessage(f"Opening {len(paths)} sessions to compare…")
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            window = CompareWindow(paths)  # problems with single files are reported in its own dialogs
        finally:
            QApplication.restoreOverrideCursor()
            self.statusBar().clearMessage()
        # Referenced while open (nothing else holds it); closing deletes it and drops the reference.
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.compare_windows.append(window)
        window.destroyed.connect(lambda *_: self.compare_windows.remove(window) if window in self.compare_windows else None)
        window.show()
        window.raise_()
        window.activateWindow()

    def open_session(self, path: Path) -> bool:
        """Show a saved (or still growing) session. Returns False, after telling the user, if it cannot."""
        path = Path(path)
        if self.worker is not None:
            if not self.ask_yes_no("Stop training?", f"Training is still running. Stop it and open {path.name}?"):
                return False
            self.stop_training(wait=True)
        try:
            store = RecordStore.open(path)
        except RnnbowError as exc:
            self.show_error("Cannot open the session", str(exc))
            return False
        except OSError as exc:
            self.show_error("Cannot open the session", f"{path}: {exc.strerror or exc}")
            return False
        self._set_store(store, path)
        self._store_is_live = False
        # The Train panel shows the open session's settings, so Start trains the same set-up again.
        self.panel.set_config(store.config)
        try:
            self._load_history(store)
        except RnnbowError as exc:  # the records are shown; only the loss curve or samples are missing
            self.show_error("Part of the session cannot be read", str(exc))
        # What the reader worked around (a killed writer, half-written rows), as `rnnbow info` says it.
        notes = store.session.notes if store.session is not None else []
        self._writer_stopped = store.session is not None and store.session.writer_stopped
        if notes:
            self.statusBar().showMessage(f"{path.name}: " + "; ".join(notes))
        else:
            self.statusBar().clearMessage()
        self._update_status()
        self._add_recent(path)
        self.poll_timer.start()
        return True

    def _load_history(self, store: RecordStore) -> None:
        """Loss curve and generated text of a file-backed session, as far as it is written."""
        session = store.session
        self.loss_curve.clear()
        self.samples.clear_samples()
        self._history_batches = 0
        self._history_smooth = initial_smooth_loss(len(store.vocab), store.config.seq_length)
        self._history_samples = 0
        self._read_new_history(session)
        self.loss_curve.refresh(force=True)

    def _read_new_history(self, session: Session) -> None:
        total = session.batches_trained
        # In slices, so a run of millions of batches never sits in memory twice.
        step = 1_000_000
        while self._history_batches < total:
            lo, hi = self._history_batches, min(total, self._history_batches + step)
            smooth = smooth_loss_series(session.training_loss(lo, hi), self._history_smooth)
            if len(smooth):
                self._history_smooth = float(smooth[-1])
                self.loss_curve.append(np.arange(lo, lo + len(smooth)), smooth)
            self._history_batches = lo + len(smooth) if len(smooth) else total
        if session.n_samples > self._history_samples:
            samples = session.samples()
            self.samples.add_samples(samples[self._history_samples:])
            self._history_samples = len(samples)

    def _poll_file(self) -> None:
        store = self.store
        if self.worker is not None or store is None or store.session is None:
            return
        try:
            grew = store.refresh()
            if grew or store.session.batches_trained > self._history_batches:
                self._read_new_history(store.session)
                self._writer_stopped = False
                self._dirty = True
        except RnnbowError as exc:
            self.poll_timer.stop()
            self.statusBar().showMessage(f"Stopped following the file: {exc}")

    def _set_store(self, store: RecordStore, path: Path) -> None:
        self.poll_timer.stop()
        old = self.store
        # Clear the selection first: its indices belong to the old store.
        self.selection.set_preview(None)
        self.selection.select(None, user=False)
        self.selection.set_follow_live(True)
        self.store = store
        self.session_path = Path(path)
        self.views.set_store(store)
        if old is not None and old is not store:
            old.close()
        self._overview_records = self._followed_records = len(store)
        if len(store):
            self.selection.select(len(store) - 1, user=False)
        self.central.setCurrentWidget(self.views)
        self._update_title()
        self._update_status()
        self._sync_actions()

    def _close_store(self) -> None:
        if self.store is not None:
            self.store.close()

    # -- frames -------------------------------------------------------------------------------------
    def _draw_frame(self) -> None:
        """The only place live data reaches the views, from the frame timer.

        Ticks alternate between the overview (with loss curve and status) and moving the batch views
        to the newest record: each tick paints about half of a full redraw, so the event loop is never
        blocked for all of it at once, and each half runs at most every 2 × FRAME_MS.
        """
        self._phase ^= 1
        store = self.store
        count = len(store) if store is not None else 0
        if self._phase == 0:
            due = self._dirty or count != self._overview_records
        else:
            due = (self.selection.follow_live and count and count != self._followed_records
                   and not self._reading_a_batch())
        if not due:
            return
        if self.worker is not None and self.isVisible() and not self.isMinimized():
            # Released in event() once the window has painted what this tick changed.
            self.worker.hold()
            self._held = True
        if self._phase == 0:
            self._update_overview()
        else:
            self._follow_newest()

    def _draw_everything(self) -> None:
        """Both halves of a frame at once, for the final state of a run."""
        self._update_overview()
        if self.selection.follow_live:
            self._follow_newest()
        self.loss_curve.refresh(force=True)

    def _update_overview(self) -> None:
        self._dirty = False
        count = len(self.store) if self.store is not None else 0
        if count != self._overview_records:
            self._overview_records = count
            self.views.records_appended()
        self.loss_curve.refresh()
        self._update_status()

    def _follow_newest(self) -> None:
        count = len(self.store) if self.store is not None else 0
        self._followed_records = count
        if count:
            self.selection.select(count - 1, user=False)

    def _reading_a_batch(self) -> bool:
        """The user is hovering a loss in area 2: following live would swap the batch (and clear the
        highlighted horizon) under their hand every frame. The overview keeps growing meanwhile."""
        return self.selection.selected is not None and self.selection.hovered_loss is not None

    def event(self, event) -> bool:
        handled = super().event(event)
        # UpdateRequest is when Qt paints every dirty widget of the window, synchronously.
        if getattr(self, "_held", False) and event.type() == QEvent.Type.UpdateRequest:
            self._held = False
            # Posted now, so it runs after what the paint itself queued (pyqtgraph's range updates).
            QTimer.singleShot(0, self._release_worker)
        return handled

    def _release_worker(self) -> None:
        if self.worker is not None:
            self.worker.release()

    def _sync_actions(self, *_) -> None:
        """Menu items mirror the buttons: only what can be done now is enabled."""
        state = self.panel.state
        self.start_action.setEnabled(self.panel.start_button.isEnabled())
        self.pause_action.setEnabled(state in (RUNNING, PAUSED))
        self.pause_action.setText("&Resume" if state == PAUSED else "&Pause")
        self.stop_action.setEnabled(state in (RUNNING, PAUSED))
        has_store = self.store is not None
        self.save_as_action.setEnabled(has_store)
        self.export_action.setEnabled(has_store)
        for action in (self.prev_action, self.next_action, self.first_action, self.last_action):
            action.setEnabled(has_store)

    def _update_title(self) -> None:
        if self.store is None or self.session_path is None:
            self.setWindowTitle("RNNbow")
        else:
            self.setWindowTitle(f"{self.session_path.name} ({self.store.config.cell}) — RNNbow")

    def _update_status(self) -> None:
        state = self.panel.state
        snap = self.last_snapshot
        self.status.cell = self.store.config.cell if self.store is not None else None
        if self.worker is not None:
            label = {RUNNING: "Training", PAUSED: "Paused" if snap is not None and snap.paused else "Pausing…",
                     STOPPING: "Stopping…"}.get(state, "")
            self.status.show(label, snap.batch if snap else 0, snap.chars_per_second if snap and not snap.paused else None,
                             snap.smooth_loss if snap else None, len(self.store) if self.store is not None else 0,
                             self.session_path)
            return
        if self._start_when_loaded:
            self.status.show("Loading corpus…", None, None, None, None, None)
            return
        if self.store is None:
            self.status.show("", None, None, None, None, None)
            return
        if self._store_is_live:
            self.status.show("Stopped", snap.batch if snap else 0, None, snap.smooth_loss if snap else None,
                             len(self.store), self.session_path)
            return
        session = self.store.session
        if session is not None and session.info.complete:
            label = "Saved session"
        elif self._writer_stopped:  # killed, crashed or out of space: it will not grow
            label = "Unfinished session"
        else:
            label = "Growing session"
        self.status.show(label, self._history_batches,
                         None, self._history_smooth if self._history_batches else None, len(self.store),
                         self.session_path)

    # -- records --------------------------------------------------------------------------------------
    def step_record(self, delta: int) -> None:
        if self.store is None or len(self.store) == 0:
            return
        current = self.selection.selected
        index = (0 if delta > 0 else len(self.store) - 1) if current is None else current + delta
        self.selection.select(max(0, min(len(self.store) - 1, index)))

    def first_record(self) -> None:
        if self.store is not None and len(self.store):
            self.selection.select(0)

    def last_record(self) -> None:
        if self.store is not None and len(self.store):
            self.selection.select(len(self.store) - 1)
            if self.worker is not None:
                self.selection.set_follow_live(True)  # End while training means "show the newest"

    # -- save as / export -----------------------------------------------------------------------------
    def save_as(self) -> None:
        source = self.session_path
        if source is None:
            self.show_error("Nothing to save yet", "Train a network or open a session first.")
            return
        worker = self.worker
        if worker is not None and not (worker.paused and self.last_snapshot is not None and self.last_snapshot.paused):
            self.show_error("Pause training first",
                            "The session is still being written. Pause or stop training, then save a copy.")
            return
        target = self.ask_save_path("Save a copy of the session", self._last_dir_path() / source.name,
                                    {"RNNbow session (*.h5)": "h5"})
        if target is None:
            return
        try:
            if target.exists() and target.samefile(source):
                return  # already there
            partial = target.with_name(target.name + ".part")
            # Via a temporary name, so a failed copy never leaves half a file under the chosen name.
            shutil.copyfile(source, partial)
            os.replace(partial, target)
        except OSError as exc:
            self.show_error("Could not save the copy", f"{target}: {exc.strerror or exc}")
            return
        self.settings.setValue("paths/last_dir", str(target.parent))
        self._add_recent(target)
        self.statusBar().showMessage(f"Saved a copy to {target}", 8000)

    def export_views(self) -> None:
        if self.store is None or self.selection.shown is None:
            self.show_error("Nothing to export yet", "Train a network or open a session first.")
            return
        stem = self.session_path.stem if self.session_path else "rnnbow"
        batch = int(self.store.batches[self.selection.shown])
        target = self.ask_save_path("Export the views", self._last_dir_path() / f"{stem}-batch{batch}.png", EXPORT_FILTERS)
        if target is None:
            return
        if target.suffix.lower() not in (".png", ".svg"):
            target = target.with_name(target.name + ".png")
        try:
            self.views.export(target)
        except (RnnbowError, OSError) as exc:
            self.show_error("Could not export the views", str(exc))
            return
        self.settings.setValue("paths/last_dir", str(target.parent))
        self.statusBar().showMessage(f"Exported the views to {target}", 8000)

    def _last_dir(self) -> str:
        return self.settings.value("paths/last_dir", "", type=str) or str(Path.home())

    def _last_dir_path(self) -> Path:
        return Path(self._last_dir())

    # -- recent sessions ------------------------------------------------------------------------------
    def recent_sessions(self) -> list[Path]:
        values = self.settings.value("recent_sessions", [], type=list) or []
        return [Path(v) for v in values if v]

    def _recent_cells(self) -> dict[str, str]:
        """The cell of each recent session, as it was when added: the menu names it without opening the file."""
        try:
            cells = json.loads(self.settings.value("recent_cells", "{}", type=str) or "{}")
        except ValueError:
            return {}
        return cells if isinstance(cells, dict) else {}

    def _add_recent(self, path: Path) -> None:
        path = Path(path).resolve()
        recent = [path, *(p for p in self.recent_sessions() if p != path)][:MAX_RECENT]
        self.settings.setValue("recent_sessions", [str(p) for p in recent])
        # Every caller adds the session this window shows now (or a copy of it).
        cells = self._recent_cells()
        if self.store is not None:
            cells[str(path)] = self.store.config.cell
        self.settings.setValue("recent_cells", json.dumps({str(p): cells[str(p)] for p in recent if str(p) in cells}))

    def _fill_recent_menu(self) -> None:
        menu = self.recent_menu
        menu.clear()
        existing = [p for p in self.recent_sessions() if p.exists()]
        if not existing:
            menu.addAction("No recent sessions").setEnabled(False)
            return
        cells = self._recent_cells()
        for number, path in enumerate(existing, 1):
            cell = cells.get(str(path))
            action = menu.addAction(f"&{number % 10} {path.name}" + (f" ({cell})" if isinstance(cell, str) else ""))
            action.setToolTip(str(path))
            action.setStatusTip(str(path))
            action.triggered.connect(lambda _checked=False, p=path: self.open_session(p))
        menu.addSeparator()
        menu.addAction("Clear Menu").triggered.connect(lambda _checked=False: self.settings.setValue("recent_sessions", []))

    # -- drag and drop --------------------------------------------------------------------------------
    @staticmethod
    def _dropped_session(event) -> Path | None:
        mime = event.mimeData()
        if not mime.hasUrls():
            return None
        for url in mime.urls():
            if url.isLocalFile() and Path(url.toLocalFile()).suffix.lower() in SESSION_SUFFIXES:
                return Path(url.toLocalFile())
        return None

    def dragEnterEvent(self, event) -> None:
        if self._dropped_session(event) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:
        path = self._dropped_session(event)
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        # After the drop returns, so the source application is not kept waiting on our dialogs.
        QTimer.singleShot(0, lambda: self.open_session(path))

    # -- help -------------------------------------------------------------------------------------------
    def show_help(self) -> None:
        if self._help is None:
            self._help = HelpDialog(self)
        self._help.show()
        self._help.raise_()
        self._help.activateWindow()

    def show_about(self) -> None:
        dialog = AboutDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    # -- settings and closing -------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        s = self.settings
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1500, 950)
        state = s.value("window/state")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)
        values = {}
        for name in self.panel.settings_values():
            value = s.value(f"training/{name}")
            if value is not None:
                values[name] = value
        self.panel.restore_values(values)

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        for name, value in self.panel.settings_values().items():
            s.setValue(f"training/{name}", value)
        if self.picker.current_spec:
            s.setValue("corpus/last", self.picker.current_spec)
        s.sync()

    def shutdown(self) -> None:
        """Stop training (leaving a complete session), save settings and release files. Idempotent."""
        if self._shut_down:
            return
        self._shut_down = True
        self.frame_timer.stop()
        self.poll_timer.stop()
        self._start_when_loaded = False
        if self.worker is not None:
            if not self.stop_training(wait=True, timeout_ms=CLOSE_WAIT_MS):
                # A batch far larger than the form allows: keep waiting rather than destroy a running
                # thread (Qt would abort) or leave the session unfinished.
                self.stop_training(wait=True)
        self.picker.shutdown()
        self.save_settings()
        self._close_store()
        self.store = None
        if self._help is not None:
            self._help.close()
        for window in list(self.compare_windows):
            window.close()

    def closeEvent(self, event) -> None:
        self.hide()  # feels instant even while the last batch finishes
        self.shutdown()
        event.accept()
