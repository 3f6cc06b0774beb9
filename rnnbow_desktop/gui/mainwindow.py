"""The main window: the four gradient views in the middle, training on the left, loss and generated text below.

The window lays these out and holds the menus; training is run by its TrainingController, live data and
growing files reach the views through its SessionFollower, and the status line's words are in status_text.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget, QFileDialog, QGroupBox, QLabel, QMainWindow, QMessageBox, QScrollArea, QStackedWidget, QVBoxLayout,
    QWidget,
)

from ..core.corpus import Corpus
from ..core.errors import RnnbowError
from ..storage.reader import Session
from ..storage.record_store import RecordStore
from ..storage.run import TrainingRun
from ..storage.training_process import TrainingProcess
from .app import open_settings
from .corpus_picker import CorpusPicker
from .dialogs.about import AboutDialog
from .dialogs.errors import show_error_dialog
from .dialogs.help import HelpDialog
from .dialogs.save_path import ask_save_path
from .dynamics.view import DynamicsView
from .findings_tracker import FindingsTracker
from .gradient_views import GradientViews
from .icon import app_icon
from .live_panels import LossCurve, SamplesPanel
from .recent_sessions import RecentSessions
from .selection import SelectionModel
from .session_files import export_shown_views, save_session_copy
from .session_follower import SessionFollower
from .status_text import TrainingStatus
from .training_controller import TrainingController
from .training_panel import PAUSED, RUNNING, TrainingPanel
from .units.view import UnitsView
from .views.findings import FindingsPanel
from .window_settings import restore_window_settings, save_window_settings
from .worker import TrainingSnapshot

CLOSE_WAIT_MS = 1800  # closing must leave a complete session within 2 s
SESSION_SUFFIXES = (".h5", ".hdf5")
SESSION_FILTER = "RNNbow sessions (*.h5 *.hdf5)"

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
    """The app's window. Tests replace its dialog hooks (show_error, ask_*) to run without a person."""

    def __init__(self, settings=None, parent=None):
        super().__init__(parent)
        self.settings = settings if settings is not None else open_settings()
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.selection = SelectionModel(self)
        self.store: RecordStore | None = None
        self.session_path: Path | None = None
        self.recent = RecentSessions(self.settings)
        self._help: HelpDialog | None = None
        self.compare_windows: list = []  # open "Compare sessions" windows, kept alive and closed with this one
        self._shut_down = False
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
        self.training_controller = TrainingController(self)
        self.follower = SessionFollower(self)
        self._build_actions()

        controller = self.training_controller
        controller.runStarted.connect(self._show_live_run)
        controller.snapshotReceived.connect(self.follower.take_snapshot)
        controller.snapshotReceived.connect(self.units.take_snapshot)
        controller.runFinished.connect(self._on_run_finished)
        self.picker.corpusChanged.connect(self._on_corpus_changed)
        self.picker.loadFailed.connect(self._on_corpus_failed)
        self.picker.tree.currentItemChanged.connect(lambda *_: self.panel.set_can_start(self.picker.current_spec is not None))
        self.panel.startRequested.connect(self.start_training)
        self.panel.pauseRequested.connect(controller.pause)
        self.panel.resumeRequested.connect(controller.resume)
        self.panel.stopRequested.connect(self.stop_training)
        self.panel.stateChanged.connect(self._sync_actions)

        restore_window_settings(self)
        self._update_title()
        self.update_status()
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
        # What the hidden units respond to (issue 14): computed only while its tab is shown.
        self.units = UnitsView(self.selection)
        self.units_dock = self._dock("Units", "units", self.units, Qt.DockWidgetArea.RightDockWidgetArea)
        self.units.unitHorizonChanged.connect(self.views.horizon.show_unit)
        # Hidden-state dynamics over training (issue 15): computed only while its tab is shown.
        self.dynamics = DynamicsView(self.selection)
        self.dynamics_dock = self._dock("Dynamics", "dynamics", self.dynamics, Qt.DockWidgetArea.RightDockWidgetArea)
        if getattr(self, "units_dock", None) is not None:
            self.tabifyDockWidget(self.units_dock, self.dynamics_dock)
        self.resizeDocks([self.dynamics_dock], [460], Qt.Orientation.Horizontal)
        # Interesting batches (issue 17): listed here, marked on the overview, found again as the run grows.
        self.findings_tracker = FindingsTracker(self)
        self.findings_panel = FindingsPanel(self.selection, self.findings_tracker)
        self.findings_dock = self._dock("Findings", "findings", self.findings_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.dynamics_dock, self.findings_dock)
        self.views.overview.show_findings(self.findings_tracker)
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
        self.pause_action = self._action("&Pause / Resume", self.training_controller.toggle_pause)
        self.stop_action = self._action("S&top", self.stop_training)

        self.prev_action = self._action("&Previous Batch", lambda: self.step_record(-1), Qt.Key.Key_Left)
        self.next_action = self._action("&Next Batch", lambda: self.step_record(1), Qt.Key.Key_Right)
        self.first_action = self._action("&First Batch", self.first_record, Qt.Key.Key_Home)
        self.last_action = self._action("&Last Batch", self.last_record, Qt.Key.Key_End)
        self.next_finding_action = self._action("Next &Finding", lambda: self.findings_panel.step(1), "Ctrl+Right",
                                                "Select the next interesting batch (of the kinds shown)")
        self.prev_finding_action = self._action("Previous F&inding", lambda: self.findings_panel.step(-1), "Ctrl+Left",
                                                "Select the previous interesting batch (of the kinds shown)")

        self.help_action = self._action("RNNbow &Help", self.show_help, QKeySequence.StandardKey.HelpContents)
        self.about_action = self._action("&About RNNbow Desktop", self.show_about)

        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(lambda: self.recent.fill_menu(self.recent_menu, self.open_session))
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
        for action in (self.prev_action, self.next_action, self.first_action, self.last_action,
                       self.next_finding_action, self.prev_finding_action):
            view_menu.addAction(action)
        view_menu.addSeparator()
        for dock in (self.train_dock, self.loss_dock, self.samples_dock):
            view_menu.addAction(dock.toggleViewAction())
        view_menu.addAction(self.units_dock.toggleViewAction())
        view_menu.addAction(self.dynamics_dock.toggleViewAction())
        view_menu.addAction(self.findings_dock.toggleViewAction())
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
        path, _ = QFileDialog.getOpenFileName(self, caption, str(self.recent.last_folder()), file_filter)
        return Path(path) if path else None

    def ask_open_paths(self, caption: str, file_filter: str) -> list[Path]:
        """A dialog choosing several existing files (none if cancelled), starting in the current session's folder."""
        folder = str(self.session_path.parent if self.session_path is not None else self.recent.last_folder())
        paths, _ = QFileDialog.getOpenFileNames(self, caption, folder, file_filter)
        return [Path(p) for p in paths]

    def ask_save_path(self, caption: str, suggested: Path, filters: dict[str, str]) -> Path | None:
        """A save dialog that appends the chosen filter's suffix and asks before replacing a file."""
        return ask_save_path(self, caption, suggested, filters)

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
        if corpus is not None:
            self.training_controller.corpus_ready()

    def _on_corpus_failed(self, spec: str, message: str) -> None:
        self.training_controller.corpus_failed()
        self.show_error("Cannot use this corpus", message)

    # -- training (run by the TrainingController) -------------------------------------------------------
    @property
    def training(self) -> bool:
        return self.training_controller.training

    @property
    def last_snapshot(self) -> TrainingSnapshot | None:
        return self.training_controller.last_snapshot

    def start_training(self) -> None:
        self.training_controller.start()

    def stop_training(self, wait: bool = False, timeout_ms: int | None = None) -> bool:
        """Ask training to stop; with `wait`, block until the session file is complete."""
        return self.training_controller.stop(wait, timeout_ms)

    def _show_live_run(self, run: TrainingProcess | TrainingRun, corpus: Corpus) -> None:
        store = RecordStore.live(run.config, corpus.vocab, run.path.name)
        try:
            # Records that leave the store's memory cache are read back from the file being written.
            store.attach_session(Session(run.path))
        except RnnbowError:
            pass  # the views still work on the cached (most recent) records
        self._set_store(store, run.path)
        self._store_is_live = True
        self.units.set_live(True)
        self.dynamics.set_live(True)
        self.loss_curve.clear()
        self.samples.clear_samples()
        self.add_recent(run.path)

    def _on_run_finished(self) -> None:
        self.units.set_live(False)
        self.dynamics.set_live(False)  # before its session handle is replaced below
        self.follower.reattach_session()
        self.follower.draw_everything()

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
        self.recent.remember_folder(paths[0].parent)
        if len(paths) < 2:
            self.show_error("Choose at least two sessions",
                            f"Comparing needs two or more session files; only {paths[0].name} was chosen.\n\n"
                            "Hold Ctrl (⌘ on a Mac) or Shift while clicking to choose several files.")
            return
        from .compare.window import open_comparison

        open_comparison(paths, self)

    def open_session(self, path: Path) -> bool:
        """Show a saved (or still growing) session. Returns False, after telling the user, if it cannot."""
        path = Path(path)
        if self.training:
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
        # The Train panel shows the open session's settings, so Start trains the same set-up again
        # (not those of a recorded PyTorch module, which RNNbow cannot train).
        if store.has_model:
            self.panel.set_config(store.config)
        try:
            self.follower.load_history(store)
        except RnnbowError as exc:  # the records are shown; only the loss curve or samples are missing
            self.show_error("Part of the session cannot be read", str(exc))
        # What the reader worked around (a killed writer, half-written rows), as `rnnbow info` says it.
        notes = store.session.notes if store.session is not None else []
        self.follower.writer_stopped = store.session is not None and store.session.writer_stopped
        if notes:
            self.statusBar().showMessage(f"{path.name}: " + "; ".join(notes))
        else:
            self.statusBar().clearMessage()
        self.update_status()
        self.add_recent(path)
        self.follower.follow_file()
        return True

    def _set_store(self, store: RecordStore, path: Path) -> None:
        old = self.store
        # Clear the selection first: its indices belong to the old store.
        self.selection.set_preview(None)
        self.selection.select(None, user=False)
        self.selection.set_follow_live(True)
        self.store = store
        self.session_path = Path(path)
        self.follower.new_store(store)
        self.views.set_store(store)
        self.samples.set_available(store.has_model)
        self.loss_curve.set_unit(store.loss_unit)
        self.dynamics.set_store(store)
        self.units.set_session(self.session_path, store)
        self.findings_panel.set_store(store)
        self.findings_tracker.follow(store)
        if old is not None and old is not store:
            old.close()
        if len(store):
            self.selection.select(len(store) - 1, user=False)
        self.central.setCurrentWidget(self.views)
        self._update_title()
        self.update_status()
        self._sync_actions()

    def _close_store(self) -> None:
        if self.store is not None:
            self.store.close()

    def event(self, event) -> bool:
        handled = super().event(event)
        # UpdateRequest is when Qt paints every dirty widget of the window, synchronously.
        follower = getattr(self, "follower", None)
        if follower is not None and event.type() == QEvent.Type.UpdateRequest:
            follower.painted()
        return handled

    # -- what the menus, title and status line say ----------------------------------------------------
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
        for action in (self.prev_action, self.next_action, self.first_action, self.last_action,
                       self.next_finding_action, self.prev_finding_action):
            action.setEnabled(has_store)

    def _update_title(self) -> None:
        if self.store is None or self.session_path is None:
            self.setWindowTitle("RNNbow")
        else:
            self.setWindowTitle(f"{self.session_path.name} ({self.store.model_name}) — RNNbow")

    def update_status(self) -> None:
        store, path, status = self.store, self.session_path, self.status
        status.cell = store.model_name if store is not None else None
        status.seq_length = store.config.seq_length if store is not None else None
        status.loss_unit = store.loss_unit if store is not None else status.loss_unit
        if self.training:
            status.show_training(self.panel.state, self.last_snapshot, len(store) if store is not None else 0, path)
        elif self.training_controller.start_when_loaded:
            status.show_loading()
        elif store is None:
            status.show_nothing()
        elif self._store_is_live:
            status.show_stopped(self.last_snapshot, len(store), path)
        else:
            follower = self.follower
            complete = store.session is not None and store.session.info.complete
            status.show_session(complete, follower.writer_stopped, follower.history_batches, follower.history_smooth,
                                len(store), path)

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
            if self.training:
                self.selection.set_follow_live(True)  # End while training means "show the newest"

    # -- save as / export (session_files) ------------------------------------------------------------
    def save_as(self) -> None:
        save_session_copy(self)

    def export_views(self) -> None:
        export_shown_views(self)

    # -- recent sessions ------------------------------------------------------------------------------
    def recent_sessions(self) -> list[Path]:
        return self.recent.paths()

    def add_recent(self, path: Path) -> None:
        # Every caller adds the session this window shows now (or a copy of it).
        self.recent.add(path, self.store.config.cell if self.store is not None else None)

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

    # -- closing ------------------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop training (leaving a complete session), save settings and release files. Idempotent."""
        if self._shut_down:
            return
        self._shut_down = True
        self.follower.stop()
        self.dynamics.shutdown()
        self.units.shutdown()
        self.findings_tracker.shutdown()
        self.training_controller.start_when_loaded = False
        if self.training:
            if not self.stop_training(wait=True, timeout_ms=CLOSE_WAIT_MS):
                # A batch far larger than the form allows: keep waiting rather than destroy a running
                # thread (Qt would abort) or leave the session unfinished.
                self.stop_training(wait=True)
        self.picker.shutdown()
        save_window_settings(self)
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
