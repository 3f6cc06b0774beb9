"""Shared GUI test fixtures: a small real session file, its RecordStore, and a guard against leaked windows and threads."""

from __future__ import annotations

import dataclasses
import gc
import random
import warnings

import pytest
from PySide6.QtCore import QEvent, QThread, QThreadPool
from PySide6.QtWidgets import QApplication
from shiboken6 import Shiboken

from rnnbow_desktop.core.corpus import load_corpus
from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.gui.selection import SelectionModel
from rnnbow_desktop.storage.record_store import RecordStore
from rnnbow_desktop.storage.run import TrainingRun

SMALL_CONFIG = TrainConfig(hidden_size=16, seq_length=12, checkpoint_every=0, sample_every=0, seed=3)
SMALL_BATCHES = 60

# Qt's own short-lived windows that are not the test's doing.
_IGNORED_WINDOW_CLASSES = {"QTipLabel"}


def synthetic_text(length: int = 6000, seed: int = 0) -> str:
    """C-like lines with spaces, tabs and newlines, so the label views meet every kind of whitespace."""
    rng = random.Random(seed)
    words = ["int", "x", "y", "return", "if", "for", "while", "buf", "len", "0", "1", "n"]
    lines = []
    while sum(len(line) + 1 for line in lines) < length:
        body = " ".join(rng.choice(words) for _ in range(rng.randint(2, 6)))
        lines.append(("\t" if rng.random() < 0.5 else "") + body + rng.choice([";", " {", " }", ";"]))
    return "\n".join(lines)


@pytest.fixture(autouse=True)
def sandboxed_settings(no_leaked_windows_or_threads, tmp_path, monkeypatch):
    """Every GUI test: never read or write the user's settings or sessions folder.

    It asks for the leak guard so the guard is set up before it (and before `monkeypatch`) and torn
    down after: a monkeypatched method of a window keeps the window alive until monkeypatch undoes it.
    """
    settings = tmp_path / "settings"
    settings.mkdir()
    monkeypatch.setenv("RNNBOW_SETTINGS_DIR", str(settings))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return settings


@pytest.fixture
def shown(qtbot):
    """Factory: `widget` handed to qtbot (closed after the test), resized to `size` if given, shown and exposed."""

    def show(widget, size: tuple[int, int] | None = None):
        qtbot.addWidget(widget)
        if size is not None:
            widget.resize(*size)
        widget.show()
        qtbot.waitExposed(widget)
        return widget

    return show


@pytest.fixture
def make_window(shown):
    """Factory: a shown main window whose errors are recorded in `window.errors` instead of opening dialogs."""
    from rnnbow_desktop.gui.mainwindow import MainWindow

    def make():
        window = MainWindow()
        # The hook every error goes through: recorded here instead of opening a message box.
        window.errors = []
        window.show_error = lambda title, message, details="": window.errors.append((title, message, details))
        return shown(window)

    return make


@pytest.fixture
def make_views(shown, selection):
    """Factory: the four gradient views, shown at `size` (1200 × 800 unless given), showing `store`."""
    from rnnbow_desktop.gui.gradient_views import GradientViews

    def make(store, size: tuple[int, int] = (1200, 800)):
        views = shown(GradientViews(selection), size)
        views.set_store(store)
        return views

    return make


@pytest.fixture
def window(make_window):
    """A shown main window (test_window_faults.py has its own, which also shows the dialogs)."""
    return make_window()


@pytest.fixture(scope="session")
def make_session(tmp_path_factory):
    """Factory: train `batches` batches of a small network on a synthetic corpus into a new session file."""

    def make(batches: int = SMALL_BATCHES, seed: int = 0, **config_changes):
        folder = tmp_path_factory.mktemp("gui-session")
        text_file = folder / "synthetic.txt"
        text_file.write_text(synthetic_text(seed=seed), encoding="utf-8")
        config = dataclasses.replace(SMALL_CONFIG, **config_changes)
        corpus = load_corpus(text_file, min_length=config.seq_length + 1)
        path = folder / "session.h5"
        with TrainingRun(corpus, config, path) as run:
            for _ in range(batches):
                run.step()
        return path

    return make


@pytest.fixture(scope="session")
def session_path(make_session):
    """A real session: TrainingRun on a synthetic corpus, hidden 16, sequence 12, 60 recorded batches."""
    return make_session()


@pytest.fixture
def store(session_path):
    store = RecordStore.open(session_path)
    yield store
    store.close()


@pytest.fixture
def selection(qapp):
    model = SelectionModel()
    yield model
    model.deleteLater()


def _pointer(widget) -> int:
    return Shiboken.getCppPointer(widget)[0]


def _new_windows(before: set[int]) -> list:
    app = QApplication.instance()
    if app is None:
        return []
    return [
        w for w in app.topLevelWidgets()
        if _pointer(w) not in before and w.metaObject().className() not in _IGNORED_WINDOW_CLASSES
    ]


def _running_threads() -> list[QThread]:
    # isinstance() on every live object can trip deprecation warnings of other libraries' proxies
    # (PyTorch's torch.distributed.reduce_op, when torch is installed): not this test's business.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [obj for obj in gc.get_objects() if isinstance(obj, QThread) and Shiboken.isValid(obj) and obj.isRunning()]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # Keep each phase's report on the test item, so the leak guard knows whether the test itself failed.
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"_report_{report.when}", report)


@pytest.fixture(autouse=True)
def no_leaked_windows_or_threads(request):
    """Fail a test that leaves a top-level widget alive or a QThread running after its fixtures are gone.

    Autouse, so it is set up first and torn down last: pytest-qt has closed the widgets registered with
    qtbot by then. Fixture values are dropped before counting, so a widget a fixture returned is not
    a leak; one kept alive by anything else (a global, a cache, a cycle through a C++ parent) is.
    """
    app = QApplication.instance()
    before = {_pointer(w) for w in app.topLevelWidgets()} if app is not None else set()
    yield
    threads = _running_threads()
    busy_pool = QThreadPool.globalInstance().activeThreadCount()
    # Release what the test's fixtures still hold, then let Python and Qt delete it.
    funcargs = getattr(request.node, "funcargs", None)
    if isinstance(funcargs, dict):
        funcargs.clear()
    app = QApplication.instance()
    for _ in range(2):
        gc.collect()
        if app is not None:
            QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    failed = getattr(getattr(request.node, "_report_call", None), "failed", False)
    if failed:
        # The failure's traceback keeps the test's widgets alive: that is not a leak, and deleting
        # them under the traceback's feet could crash. Report the failure alone.
        return
    leaked = _new_windows(before)
    descriptions = [f"{w.metaObject().className()} {w.windowTitle()!r} (visible: {w.isVisible()})" for w in leaked]
    for widget in leaked:  # clean up so that one leak does not fail every later test
        widget.close()
        widget.deleteLater()
    for thread in threads:
        thread.quit()
        thread.wait(2000)
    if app is not None:
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    problems = []
    if descriptions:
        problems.append("leaked top-level widgets: " + ", ".join(descriptions))
    if threads:
        problems.append(f"{len(threads)} QThread(s) still running after the test")
    if busy_pool:
        problems.append(f"{busy_pool} QThreadPool task(s) still running after the test")
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)
