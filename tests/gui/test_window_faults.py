"""The window under faults (issue 5): hostile session files, bad corpora, divergence and a full disk, with real files.

Errors reach the real dialog here (a QMessageBox that does not block), so the tests read the text the
user sees; each call of `show_error` is recorded as well.
"""

from __future__ import annotations

import dataclasses
import html
import json
import os
import re
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QMessageBox

from processes import app_env, python, python_started, stop
from session_faults import (absurd_records, damaged_copy, external_link, first_flush_size, heap_loop,
                            hostile_cases, newer, not_a_session, random_bytes, truncated, virtual)
from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.core.corpus import load_corpus
from rnnbow_desktop.gui.mainwindow import MainWindow
from rnnbow_desktop.gui.training_panel import IDLE
from rnnbow_desktop.storage import preflight as preflight_module
from rnnbow_desktop.storage.reader import Session

pytestmark = pytest.mark.slow


@pytest.fixture
def window(shown):
    window = MainWindow()
    window.errors = []
    show_dialog = window.show_error

    def record_and_show(title, message, details=""):
        window.errors.append((title, message, details))
        show_dialog(title, message, details)

    window.show_error = record_and_show
    return shown(window)


def dialogs(window) -> list[tuple[str, str]]:
    """(title, text) of each error box open on the window, as the user reads them; closes them."""
    boxes = [b for b in window.findChildren(QMessageBox) if b.isVisible()]
    shown = [(b.windowTitle(), b.informativeText()) for b in boxes]
    for box in boxes:
        box.close()
    return shown


def plain(rich: str) -> str:
    """The informative text without the markup show_error_dialog wraps it in."""
    return html.unescape(re.sub(r"<[^>]+>", "", rich.replace("<br>", "\n")))


# -- hostile and damaged session files ---------------------------------------------------------------


@pytest.mark.parametrize("damage, problem", hostile_cases(
    random_bytes, truncated, not_a_session, newer, external_link, virtual, absurd_records, heap_loop))
def test_a_hostile_session_gets_a_dialog_and_the_shown_session_stays(window, qtbot, session_path, tmp_path,
                                                                     monkeypatch, damage, problem):
    monkeypatch.setattr(preflight_module, "PREFLIGHT_TIMEOUT", 3.0)
    assert window.open_session(session_path)
    window.step_record(-5)
    shown_before = (window.windowTitle(), len(window.store), window.selection.selected, window.session_path)

    bad = damaged_copy(session_path, tmp_path, damage)
    assert not window.open_session(bad)
    [(title, rich)] = dialogs(window)
    text = plain(rich)
    assert title == "Cannot open the session"
    assert text.startswith(f"{bad}: ") and problem in text and "Traceback" not in text
    assert [e[2] for e in window.errors] == [""]  # no details: nothing unexpected happened

    # The window still shows the earlier session, and works.
    assert (window.windowTitle(), len(window.store), window.selection.selected, window.session_path) == shown_before
    window.step_record(1)
    assert window.selection.selected == shown_before[2] + 1
    assert window.store.record(0).batch == 0 and window.views.info_text().startswith("batch ")
    assert window.open_session(session_path) and len(window.store) == 60
    assert len(window.errors) == 1


def test_a_hostile_session_in_an_empty_window(window, tmp_path):
    bad = tmp_path / "noise.h5"
    random_bytes(bad, None)
    assert not window.open_session(bad)
    [(title, rich)] = dialogs(window)
    assert plain(rich) == f"{bad}: not an RNNbow session (not an HDF5 file)"
    assert window.store is None and window.windowTitle() == "RNNbow"
    assert window.central.currentWidget() is window.welcome


# -- bad corpora -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, content, problem", [
    ("empty.txt", b"", "is empty"),
    ("blob.bin", bytes(range(256)) * 40, "is a binary file, not text"),
])
def test_starting_on_a_bad_corpus_gets_a_dialog_and_no_file(window, qtbot, tmp_path, name, content, problem):
    corpus = tmp_path / name
    corpus.write_bytes(content)
    out = tmp_path / "never.h5"
    window.panel.set_out_path(out)
    window.picker.select_spec(str(corpus))
    window.start_training()  # while the corpus loads: training would start once it has loaded
    qtbot.waitUntil(lambda: bool(window.errors), timeout=10_000)
    qtbot.wait(200)  # nothing else follows
    assert [(t, m) for t, m, _ in window.errors] == [("Cannot use this corpus", f"{corpus}: {problem}")]
    [(title, rich)] = dialogs(window)
    assert title == "Cannot use this corpus" and plain(rich) == f"{corpus}: {problem}"
    assert window.errors[0][2] == ""  # no traceback under "Show Details"
    assert not window.training and window.panel.state == IDLE and not out.exists()

    # Pressing Start again says so at once, and a good corpus still trains.
    window.start_training()
    assert window.errors[-1][:2] == ("Cannot use this corpus", "The chosen corpus could not be loaded.")
    window.panel.set_config(TrainConfig(hidden_size=8, seq_length=8, checkpoint_every=0))
    window.picker.select_spec("c-like")
    qtbot.waitUntil(lambda: window.picker.corpus is not None, timeout=5000)
    window.start_training()
    qtbot.waitUntil(lambda: window.training and len(window.store) > 3, timeout=10_000)
    assert window.stop_training(wait=True)
    with Session(out) as session:
        assert session.info.complete and session.n_records > 3
    dialogs(window)


def train_until_error(window, qtbot, config: TrainConfig, out: Path, timeout: int) -> tuple[str, str, str]:
    """Train c-like with `config` into `out` until the window reports an error and stops; the error
    (title, message, details), after checking the dialog the user saw said the same."""
    window.panel.set_config(config)
    window.panel.set_out_path(out)
    window.picker.select_spec("c-like")
    window.start_training()
    qtbot.waitUntil(lambda: bool(window.errors), timeout=timeout)
    qtbot.waitUntil(lambda: not window.training, timeout=5000)
    [(title, message, details)] = window.errors
    [(box_title, rich)] = dialogs(window)
    assert (box_title, plain(rich)) == (title, message)
    return title, message, details


# -- divergence ------------------------------------------------------------------------------------------

# Through the form alone (it allows learning rates up to 100): this run overflows at batch 33.
DIVERGING = TrainConfig(hidden_size=16, seq_length=12, learning_rate=30.0, record_every=1, checkpoint_every=10, seed=0)


def test_divergence_names_the_batch_stops_and_keeps_the_earlier_records(window, qtbot, tmp_path):
    out = tmp_path / "diverged.h5"
    title, message, details = train_until_error(window, qtbot, DIVERGING, out, timeout=20_000)
    lead, kept = message.split("\n\n")
    assert title == "Training diverged" and details == ""
    assert lead.startswith("training diverged at batch ") and lead.endswith(" is not finite. Try a smaller learning rate.")
    batch = int(lead.split()[4].rstrip(":"))
    assert batch > 1
    assert kept == f"The session so far is kept in {out}."

    # Stopped, and nothing of the bad batch is shown or stored.
    assert window.panel.state == IDLE and window.panel.start_button.isEnabled()
    assert "Stopped" in window.status.text()
    assert len(window.store) == batch and window.store.record(batch - 1).batch == batch - 1
    with Session(out) as session:
        assert session.info.complete and session.batches_trained == batch and session.n_records == batch
        assert np.isfinite(session.training_loss()).all()
        assert all(np.isfinite(session.record(i).itemized).all() for i in range(batch))
    assert window.open_session(out) and len(window.store) == batch
    assert len(window.errors) == 1


# -- disk full -------------------------------------------------------------------------------------------

FULL_DISK = TrainConfig(hidden_size=16, seq_length=12, checkpoint_every=0)
# Room beyond the first flush (the c-like corpus alone is ~2 MB of it): about a thousand batches of FULL_DISK.
FULL_DISK_ROOM = 1 << 20


@pytest.fixture
def full_disk_size(tmp_path) -> int:
    """Bytes a disk holds in these tests: the first flush of a FULL_DISK session on c-like, measured here, and
    FULL_DISK_ROOM more, so the file keeps records before it fills, whatever this HDF5 allocates at first."""
    return first_flush_size(tmp_path, load_corpus("c-like"), FULL_DISK) + FULL_DISK_ROOM


def _check_full_disk_outcome(out: Path, title: str, message: str, records_shown: int) -> int:
    """The dialog names the file and the reason; the file reads with what the dialog says it keeps."""
    assert title == "Could not write the session"
    lead, kept = message.split("\n\n")
    assert lead.startswith(f"{out}: cannot write the session (")
    assert "); training stopped. The file keeps the " in lead and lead.endswith(", saved before the failure.")
    assert kept == f"The session so far is kept in {out}."
    records = int(lead.split("keeps the ")[1].split()[0].replace(",", ""))
    assert records > 0 and records_shown >= records
    with Session(out) as session:
        assert session.n_records == records and session.batches_trained == records
        assert not session.info.complete
        session.record(records - 1)
        assert np.isfinite(session.training_loss()).all()
    return records


@pytest.fixture
def small_disk(tmp_path, full_disk_size):
    """A tmpfs of `full_disk_size`: the most realistic full disk. Needs root (or CAP_SYS_ADMIN) to mount."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root on Linux (the subprocess test below covers a full disk anyway)")
    mount = tmp_path / f"disk-{uuid.uuid4().hex[:8]}"
    mount.mkdir()
    size = f"size={-(-full_disk_size // 1024)}k"
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", size, "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_disk_full_during_training_stops_with_a_dialog_and_the_file_reads(window, qtbot, small_disk):
    out = small_disk / "full.h5"
    title, message, details = train_until_error(window, qtbot, FULL_DISK, out, timeout=60_000)
    assert details == ""
    assert "(No space left on device)" in message
    records = _check_full_disk_outcome(out, title, message, len(window.store))
    assert window.panel.state == IDLE and "Stopped" in window.status.text()
    assert window.store.record(0).batch == 0 and window.store.record(records - 1).batch == records - 1
    assert window.open_session(out) and len(window.store) == records
    assert len(window.errors) == 1
    window.close()  # releases the file before the tmpfs is unmounted


# The same fault without root: the window in a child process with a file-size limit (RLIMIT_FSIZE
# applies to the whole process, so not to the test process itself).
FULL_DISK_DRIVER = textwrap.dedent("""
    import json, resource, sys
    from pathlib import Path
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox
    from rnnbow_desktop.core.config import TrainConfig
    from rnnbow_desktop.gui.mainwindow import MainWindow

    out, limit = Path(sys.argv[1]), int(sys.argv[2])  # then the TrainConfig as JSON
    app = QApplication(["rnnbow"])
    window = MainWindow()
    window.show()
    window.panel.set_config(TrainConfig(**json.loads(sys.argv[3])))
    window.panel.set_out_path(out)
    window.picker.select_spec("c-like")
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    window.start_training()
    report = {}

    def check():
        if window.training or window.picker.loading or window.training_controller.start_when_loaded:
            return
        timer.stop()
        boxes = [b for b in window.findChildren(QMessageBox) if b.isVisible()]
        report.update(dialogs=[[b.windowTitle(), b.informativeText()] for b in boxes], records=len(window.store),
                      state=window.panel.state, status=window.status.text())
        for box in boxes:
            box.close()
        report["reopened"] = window.open_session(out)
        report["reopened_records"] = len(window.store) if window.store is not None else None
        window.close()
        app.quit()

    timer = QTimer()
    timer.timeout.connect(check)
    timer.start(100)
    QTimer.singleShot(90_000, app.quit)
    app.exec()
    print(json.dumps(report))
""")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX resource limits")
def test_file_size_limit_during_training_in_the_real_app_process(tmp_path, full_disk_size):
    out = tmp_path / "limited.h5"
    env = app_env(tmp_path) | {"QT_QPA_PLATFORM": "offscreen"}
    settings = json.dumps(dataclasses.asdict(FULL_DISK))
    done = python(FULL_DISK_DRIVER, out, full_disk_size, settings, env=env, timeout=120)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    [[title, rich]] = report["dialogs"]
    message = plain(rich)
    assert "(File too large)" in message
    records = _check_full_disk_outcome(out, title, message, report["records"])
    assert report["state"] == IDLE and "Stopped" in report["status"]
    assert report["reopened"] and report["reopened_records"] == records


# -- the app killed while training ---------------------------------------------------------------------

KILLED_APP_DRIVER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    from rnnbow_desktop.core.config import TrainConfig
    from rnnbow_desktop.gui.mainwindow import MainWindow

    app = QApplication(["rnnbow"])
    window = MainWindow()
    window.show()
    window.panel.set_config(TrainConfig(hidden_size=16, seq_length=12, checkpoint_every=20))
    window.panel.set_out_path(Path(sys.argv[1]))
    window.picker.select_spec("c-like")
    window.start_training()
    started = []

    def report():
        if window.last_snapshot is None:
            return
        started.append(started[0] if started else time.monotonic())
        # Trained at least this far 2 s ago: the issue's promise covers these batches.
        print("batch", window.last_snapshot.batch, time.monotonic(), flush=True)

    timer = QTimer()
    timer.timeout.connect(report)
    timer.start(100)
    app.exec()
""")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_the_app_killed_while_training_leaves_a_file_the_window_opens(window, qtbot, tmp_path):
    import signal
    import time

    out = tmp_path / "killed.h5"
    env = app_env(tmp_path) | {"QT_QPA_PLATFORM": "offscreen"}
    progress = []
    with python_started(KILLED_APP_DRIVER, out, env=env, stderr=subprocess.DEVNULL) as proc:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            _, batch, when = line.split()
            progress.append((int(batch), float(when)))
            if progress[-1][1] - progress[0][1] > 3.0:
                break
        killed_at = time.monotonic()
        stop(proc, signal.SIGKILL, timeout=20)
    assert proc.returncode == -signal.SIGKILL and progress
    trained_2s_before = max(b for b, t in progress if t <= killed_at - 2.0)
    assert trained_2s_before > 0

    with Session(out) as session:
        assert not session.info.complete and "stopped without closing" in session.notes[0]
        assert session.batches_trained >= trained_2s_before and session.n_records >= trained_2s_before
        kept = session.n_records
    assert window.open_session(out)
    assert len(window.store) == kept and window.store.record(kept - 1).batch == kept - 1
    assert not window.errors
    # The window says what the reader worked around, as `rnnbow info` does.
    message = window.statusBar().currentMessage()
    assert message.startswith("killed.h5: the training that wrote this file stopped without closing it")
    assert "Unfinished session" in window.status.text() and "Growing" not in window.status.text()
