#!/usr/bin/env python3
"""Regenerate the README's pictures in docs/images/ from sessions trained on the bundled samples.

    python scripts/make_screenshots.py                 # all pictures (about a minute and a half)
    python scripts/make_screenshots.py --skip-lstm --skip-live   # only window.png and views.png
    xvfb-run -s "-screen 0 1600x1000x24" python scripts/make_screenshots.py   # on a virtual X server

Run it with the Python of an environment that has the project installed (`.venv/bin/python` after
`python3 scripts/dev.py run`). Without a display it draws offscreen (QT_QPA_PLATFORM=offscreen).
It writes:
  window.png       the main window on a c-like session: a batch selected in the overview, the mouse
                   on one bar segment, so its loss is highlighted and its horizon drawn below
  views.png        `rnnbow render` of the same batch and loss (the four views without a window)
  window-lstm.png  the main window on an LSTM session with the forget gate shown (skip: --skip-lstm)
  window-live.png  the real app (`rnnbow gui --corpus c-like --start`, a process of its own, first-run
                   layout) after 15 s of live training, saved by itself via RNNBOW_SCREENSHOT (skip: --skip-live)
The sessions are trained deterministically (fixed seeds) into a scratch folder in the temp directory,
and each window uses its own settings file there, so the pictures do not depend on this machine's
saved layout. Only window-live.png changes from run to run (it depends on the machine's speed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
WINDOW_SIZE = (1400, 900)

# c-like, hidden 100, sequence 25 (the app's defaults): after 3000 batches the network has learned
# words and indentation, so predictions are partly right and bars are no longer uniform.
RNN_BATCHES = 3000
RNN_BATCH = 2990  # the recorded batch shown
LSTM_BATCHES = 1500
HOVER_T, HOVER_J = 21, 17  # hovered loss t, and the bar j (offset t − j = 4) the mouse is on
LIVE_MS = 15_000


def train(corpus: str, out: Path, batches: int, *extra: str) -> None:
    command = [sys.executable, "-m", "rnnbow_desktop", "train", corpus, "--out", str(out), "--batches", str(batches),
               "--hidden", "100", "--seq-len", "25", "--seed", "1", "--quiet", "--force", *extra]
    start = time.monotonic()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    print(f"  trained {out.name}: {batches} batches in {time.monotonic() - start:.0f} s")


def settle(ms: int) -> None:
    """Run the event loop for `ms` milliseconds: the window draws on timers, not at once."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def open_window(session: Path, settings_dir: Path):
    from rnnbow_desktop.gui.app import application, open_settings
    from rnnbow_desktop.gui.mainwindow import MainWindow

    os.environ["RNNBOW_SETTINGS_DIR"] = str(settings_dir)
    application()
    window = MainWindow(settings=open_settings())
    window.resize(*WINDOW_SIZE)
    window.show()
    window.apply_command_line(session=session)
    settle(800)
    if window.store is None:
        sys.exit(f"the window could not open {session}")
    return window


def hover_segment(window, t: int, j: int) -> None:
    """Put the mouse (as the bars view sees it) on the middle of loss t's part of bar j."""
    bars = window.views.bars
    stack = bars.stack
    y = (stack.bottom[t, j] + stack.top[t, j]) / 2
    from PySide6.QtCore import QPointF

    bars.hover_at_scene(bars.plot.vb.mapViewToScene(QPointF(j, y)))
    if window.selection.hovered_loss != t:
        sys.exit(f"hovering bar {j} did not highlight loss {t} (got {window.selection.hovered_loss})")


def grab(window, path: Path) -> None:
    settle(400)
    if not window.grab().save(str(path)):
        sys.exit(f"could not write {path}")
    print(f"  wrote {path}")


def close(window) -> None:
    window.close()
    window.deleteLater()
    settle(100)


def live_screenshot(path: Path, folder: Path) -> None:
    """Run the app as a user would, training from the first second, and let it photograph itself."""
    env = dict(os.environ, RNNBOW_SETTINGS_DIR=str(folder / "settings-live"), RNNBOW_QUIT_AFTER_MS=str(LIVE_MS),
               RNNBOW_SCREENSHOT=str(path))
    command = [sys.executable, "-m", "rnnbow_desktop", "gui", "--corpus", "c-like", "--start", "--out", str(folder / "live.h5")]
    subprocess.run(command, env=env, check=True, timeout=LIVE_MS / 1000 + 60)
    print(f"  wrote {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-lstm", action="store_true", help="do not make window-lstm.png")
    parser.add_argument("--skip-live", action="store_true", help="do not make window-live.png")
    parser.add_argument("--out", type=Path, default=IMAGES, help=f"folder for the pictures (default: {IMAGES})")
    args = parser.parse_args()
    if not sys.platform.startswith(("win", "darwin")) and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    args.out.mkdir(parents=True, exist_ok=True)

    from rnnbow_desktop.gui.render import render_session

    # A fixed folder name: the status bar in the pictures shows the session's path.
    tmp = Path(tempfile.gettempdir()) / "rnnbow-screenshots"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        rnn = tmp / "c-like.h5"
        train("c-like", rnn, RNN_BATCHES)
        window = open_window(rnn, tmp / "settings")
        index = window.store.index_of_batch(RNN_BATCH)
        window.selection.select(index)  # as a click in the overview does
        settle(300)
        hover_segment(window, HOVER_T, HOVER_J)
        grab(window, args.out / "window.png")
        close(window)

        render_session(rnn, args.out / "views.png", batch=RNN_BATCH, hover_step=HOVER_T, size=WINDOW_SIZE, force=True)
        print(f"  wrote {args.out / 'views.png'}")

        if not args.skip_lstm:
            lstm = tmp / "c-like-lstm.h5"
            train("c-like", lstm, LSTM_BATCHES, "--cell", "lstm")
            window = open_window(lstm, tmp / "settings-lstm")
            gate = list(window.store.gate_names).index("forget")
            window.selection.set_gate(gate)
            window.selection.select(len(window.store) - 1)
            settle(300)
            hover_segment(window, HOVER_T, HOVER_J)
            grab(window, args.out / "window-lstm.png")
            close(window)

        if not args.skip_live:
            live_screenshot(args.out / "window-live.png", tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
