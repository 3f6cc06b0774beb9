"""Starting, pausing and stopping training from the main window: the worker thread of the current run and its snapshots."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from ..core.errors import RnnbowError
from ..storage.paths import default_session_path
from ..storage.training_process import start_run
from .training_panel import IDLE, PAUSED, RUNNING, STOPPING
from .worker import TrainingSnapshot, TrainingWorker, WorkerFailure

if TYPE_CHECKING:
    from .mainwindow import MainWindow


class TrainingController(QObject):
    """Owns the worker of the window's run; the window shows what it announces.

    Only this object touches the worker (besides the frame clock, which holds it while a frame is
    painted). Snapshots of a run the window has moved on from are dropped by a generation counter.
    """

    runStarted = Signal(object, object)  # (TrainingProcess or TrainingRun, Corpus): a new live session to show
    snapshotReceived = Signal(object)  # TrainingSnapshot of the current run
    runFinished = Signal()  # the worker thread has ended; the session file is complete

    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.window = window
        self.worker: TrainingWorker | None = None
        self.last_snapshot: TrainingSnapshot | None = None
        self.generation = 0
        self.start_when_loaded = False  # Start was pressed while the corpus was still loading

    @property
    def training(self) -> bool:
        return self.worker is not None

    # -- the corpus ----------------------------------------------------------------------------------
    def corpus_ready(self) -> None:
        """The picker has loaded its corpus: start now if Start was pressed while it loaded."""
        if self.start_when_loaded:
            self.start_when_loaded = False
            self.start()

    def corpus_failed(self) -> None:
        """The picker could not load its corpus: a pending start is off."""
        waiting = self.start_when_loaded
        self.start_when_loaded = False
        if waiting:
            self.window.update_status()

    # -- commands ------------------------------------------------------------------------------------
    def start(self) -> None:
        window, picker, panel = self.window, self.window.picker, self.window.panel
        if self.worker is not None:
            return
        if picker.current_spec is None:
            window.show_error("No corpus chosen", "Choose a corpus to train on first.")
            return
        corpus = picker.corpus
        if corpus is None:
            if picker.loading:
                # Starts from corpus_ready() once the corpus has loaded.
                self.start_when_loaded = True
                window.statusBar().showMessage("Loading the corpus; training starts when it is ready…")
            else:
                window.show_error("Cannot use this corpus", "The chosen corpus could not be loaded.")
            return
        config = panel.config()
        out = panel.out_path
        if out is not None and out.exists() and not panel.out_confirmed:
            window.show_error("The session file already exists",
                              f"{out} already exists and is left as it is. Choose another file with "
                              "Session file › Choose… (it asks before replacing a file).")
            return
        try:
            config.validate()
            out = out or default_session_path(corpus.name, config.cell)
            # In a child process (where one can be started): the views' Python and the training's
            # numpy then do not take turns on one interpreter lock.
            run = start_run(corpus, config, out, force=panel.out_confirmed)
        except RnnbowError as exc:
            window.show_error("Cannot start training", str(exc))
            return
        except OSError as exc:  # e.g. the per-user sessions folder cannot be created
            window.show_error("Cannot start training", f"{exc.filename or ''}: {exc.strerror or exc}")
            return
        # A chosen file is used once: the next run gets a new default name instead of failing.
        panel.set_out_path(None)
        self.last_snapshot = None
        self.runStarted.emit(run, corpus)
        self.generation += 1
        worker = TrainingWorker(run, self.generation)
        worker.snapshot.connect(self._on_snapshot)
        worker.failed.connect(self._on_failed)
        worker.finishedRun.connect(self._on_finished)
        self.worker = worker
        panel.set_state(RUNNING)
        worker.start()
        window.statusBar().clearMessage()
        window.update_status()

    def pause(self) -> None:
        if self.worker is not None and self.window.panel.state == RUNNING:
            self.worker.pause()
            self.window.panel.set_state(PAUSED)
            self.window.update_status()

    def resume(self) -> None:
        if self.worker is not None and self.window.panel.state == PAUSED:
            self.worker.resume()
            self.window.panel.set_state(RUNNING)
            self.window.update_status()

    def toggle_pause(self) -> None:
        if self.window.panel.state == PAUSED:
            self.resume()
        else:
            self.pause()

    def stop(self, wait: bool = False, timeout_ms: int | None = None) -> bool:
        """Ask the worker to stop; with `wait`, block until the session file is complete."""
        worker = self.worker
        if worker is None:
            return True
        worker.stop()
        self.window.panel.set_state(STOPPING)
        self.window.update_status()
        if not wait:
            return True
        done = worker.wait(timeout_ms) if timeout_ms is not None else worker.wait()
        if done:
            self._on_finished(worker.generation)
        return done

    @property
    def paused(self) -> bool:
        """The run is paused and the worker has said so (so the file is flushed and may be copied)."""
        worker = self.worker
        return worker is not None and worker.paused and self.last_snapshot is not None and self.last_snapshot.paused

    # -- from the worker -----------------------------------------------------------------------------
    def _on_snapshot(self, snapshot: TrainingSnapshot) -> None:
        if snapshot.generation != self.generation or self.window.store is None:
            return  # from a run this window has moved on from
        self.last_snapshot = snapshot
        self.snapshotReceived.emit(snapshot)

    def _on_failed(self, failure: WorkerFailure) -> None:
        self.window.show_error(failure.title, f"{failure.message}\n\nThe session so far is kept in {failure.path}.",
                               failure.details)

    def _on_finished(self, generation: int) -> None:
        worker = self.worker
        if worker is None or worker.generation != generation:
            return
        worker.wait()  # run() has returned; this only joins the thread
        self.worker = None
        # Anything the run still has queued (when we stopped it and waited) is now stale.
        self.generation += 1
        worker.deleteLater()
        self.window.panel.set_state(IDLE)
        self.runFinished.emit()
