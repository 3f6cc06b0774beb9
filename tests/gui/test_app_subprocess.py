"""Starting the app for real, in subprocesses: a second QApplication in the test process would abort it."""

from __future__ import annotations

import textwrap

import pytest

from processes import app_env, python, rnnbow
from rnnbow_desktop.storage.reader import Session

pytestmark = pytest.mark.slow

# Runs run_app() as the command line does, then reports the window's state after `delay` ms and closes it.
DRIVER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox
    from rnnbow_desktop.gui.launch import run_app

    app = QApplication(["rnnbow"])

    def report():
        windows = [w for w in app.topLevelWidgets() if w.metaObject().className() == "MainWindow"]
        window = windows[0]
        print("TITLE", window.windowTitle())
        print("RECORDS", len(window.store) if window.store is not None else "none")
        print("VISIBLE", window.isVisible())
        for box in window.findChildren(QMessageBox):
            print("ERROR", box.windowTitle(), "|", box.informativeText())
        window.close()
        app.quit()

    def boom():
        raise ZeroDivisionError("a bug in a slot")

    QTimer.singleShot(int(sys.argv[1]), report)
    args = dict(session=None, corpus=None, start=False, out=None)
    for item in sys.argv[2:]:
        key, value = item.split("=", 1)
        if key == "boom":
            QTimer.singleShot(int(value), boom)
            continue
        args[key] = True if value == "1" and key == "start" else (Path(value) if key in ("session", "out") else value)
    sys.exit(run_app(**args))
""")


@pytest.fixture
def env(tmp_path):
    return app_env(tmp_path) | {"QT_QPA_PLATFORM": "offscreen"}


def drive(env, delay_ms: int, **args) -> tuple[int, dict, list[str]]:
    proc = python(DRIVER, delay_ms, *(f"{k}={v}" for k, v in args.items()), env=env)
    facts, errors = {}, []
    for line in proc.stdout.splitlines():
        key, _, value = line.partition(" ")
        if key == "ERROR":
            errors.append(value)
        elif key:
            facts[key] = value
    if "boom" not in args:
        assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, facts, errors


def test_gui_help(env):
    proc = rnnbow("gui", "--help", env=env, timeout=30)
    assert proc.returncode == 0
    for option in ("SESSION.h5", "--corpus", "--start", "--out"):
        assert option in proc.stdout


def test_gui_script_main_parses_the_same_arguments(env):
    code = "import sys; from rnnbow_desktop.cli import gui_main; sys.exit(gui_main(['--help']))"
    proc = python(code, env=env, timeout=30)
    assert proc.returncode == 0 and "--corpus" in proc.stdout


def test_no_display_gives_one_clear_line(env):
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        env.pop(var, None)
    proc = rnnbow("gui", env=env, timeout=30)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "rnnbow: no display found; to train without a window use: rnnbow train CORPUS --out SESSION.h5"


def test_run_app_opens_a_session(env, session_path):
    code, facts, errors = drive(env, 1000, session=session_path)
    assert code == 0
    assert facts["TITLE"] == f"{session_path.name} (rnn) — RNNbow"
    assert facts["RECORDS"] == "60"
    assert facts["VISIBLE"] == "True"
    assert errors == []


def test_run_app_shows_a_bad_session_in_a_dialog(env, tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_text("not a session")
    code, facts, errors = drive(env, 800, session=bad)
    assert code == 0  # the window itself was shown; the problem went to a dialog
    assert facts["RECORDS"] == "none"
    assert len(errors) == 1 and "Cannot open the session" in errors[0] and "not an RNNbow session" in errors[0]


def test_run_app_corpus_start_out(env, tmp_path):
    out = tmp_path / "started.h5"
    code, facts, errors = drive(env, 2000, corpus="c-like", start=1, out=out)
    assert code == 0 and errors == []
    assert facts["TITLE"] == "started.h5 (rnn) — RNNbow"
    assert int(facts["RECORDS"]) > 0
    with Session(out) as session:  # closing the window finished the file
        assert session.info.complete
        assert session.n_records >= int(facts["RECORDS"])


def test_a_bug_in_a_slot_is_shown_not_just_printed(env):
    code, facts, errors = drive(env, 1200, boom=500)
    assert code == 0 and facts["VISIBLE"] == "True"
    assert len(errors) == 1 and errors[0].startswith("Unexpected error |") and "a bug in a slot" in errors[0]


def test_quit_after_ms_and_screenshot_hooks(env, session_path, tmp_path):
    """The smoke-test hooks: the real `rnnbow gui SESSION` draws its window, saves it, and quits by itself."""
    import numpy as np
    from PySide6.QtGui import QImage

    picture = tmp_path / "window.png"
    env.update(RNNBOW_QUIT_AFTER_MS="1500", RNNBOW_SCREENSHOT=str(picture))
    proc = rnnbow("gui", session_path, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    image = QImage(str(picture))
    assert not image.isNull()
    assert image.width() >= 1000 and image.height() >= 600  # the whole window, not a single widget
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    pixels = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine() // 4, 4)
    colors = np.unique(pixels[::4, ::4, :3].reshape(-1, 3), axis=0)
    assert len(colors) > 50  # drawn views, text and bars: far from a blank or single-colour window


def test_gui_launcher_prints_the_version(env):
    from rnnbow_desktop import __version__

    code = "import sys; from rnnbow_desktop.cli import gui_main; sys.exit(gui_main(['--version']))"
    proc = python(code, env=env, timeout=30)
    assert proc.returncode == 0 and proc.stdout.strip() == f"rnnbow {__version__}"
