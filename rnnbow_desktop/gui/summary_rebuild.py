"""Rebuilding the overview's summary of a session file that has none, off the GUI thread, with progress; cancellable."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal

from ..core.errors import Cancelled, RnnbowError

POLL_MS = 100  # how often the GUI looks at the job: progress needs no more than 10 updates a second


class SummaryRebuild(QObject):
    """One job at a time: `start(store)` summarises the store's file in a worker thread (the store hands out
    a task that opens the file on its own); `progressed(fraction, text)` while it runs, then the summary is
    installed in the store and `done()` is emitted, on the GUI thread."""

    progressed = Signal(float, str)
    done = Signal()
    failed = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rnnbow-summary")
        self._job: dict | None = None  # {"store", "future", "cancel", "progress"}
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.cancel)  # so that the worker ends before the interpreter does

    @property
    def running(self) -> bool:
        return self._job is not None

    def start(self, store) -> None:
        self.cancel()
        job: dict = {"store": store, "cancel": False, "progress": (0.0, "summarising the records…")}

        def progress(fraction: float, text: str) -> None:
            if job["cancel"]:
                raise Cancelled()
            job["progress"] = (fraction, text)

        job["future"] = self._pool.submit(store.summary_task(), progress)
        self._job = job
        self._timer.start()

    def cancel(self) -> None:
        """Stop the running job at its next progress report (within one block of records); nothing is installed."""
        if self._job is not None:
            self._job["cancel"] = True
            self._job = None
        self._timer.stop()

    def _poll(self) -> None:
        job = self._job
        if job is None:
            self._timer.stop()
            return
        future: Future = job["future"]
        if not future.done():
            self.progressed.emit(*job["progress"])
            return
        self._timer.stop()
        self._job = None
        try:
            job["store"].install_summary(future.result())
        except Cancelled:
            return
        except RnnbowError as exc:
            self.failed.emit(str(exc))
            return
        self.done.emit()
