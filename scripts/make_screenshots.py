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
  dynamics-lstm.png  the Dynamics view on `rnnbow demo`'s LSTM (its 20 checkpoints), the unit that travels
                   farthest selected (skip: --skip-dynamics; only this one: --dynamics-only; reuse a demo
                   session instead of training it, about 80 s: --demo-lstm long-range-lstm.h5)
  findings.png     the window (views and the Findings tab) on a run whose corpus turns from C headers into
                   nested brackets halfway, its best finding selected (skip: --skip-findings)
  long-sequence.png  the four views on a 512-character sequence, zoomed to steps 230–310, the loss at
                   step 290 hovered (skip: --skip-long; about two minutes of training)
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
DYNAMICS_SIZE = (1300, 700)
DYNAMICS_WAIT_S = 300  # replaying 20 checkpoints and embedding them: seconds, more on a loaded machine
FINDINGS_BATCHES = 10_000  # two passes through 120,000 characters: the switch, and the wrap back
FINDINGS_PART = 60_000  # characters of C headers, then as many of nested brackets
LONG_N, LONG_HIDDEN, LONG_BATCHES = 512, 64, 400
LONG_STEPS, LONG_HOVER_T = (230.0, 310.0), 290


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


def train_demo_lstm(folder: Path) -> Path:
    """`rnnbow demo`'s LSTM, trained alone: the same settings, seed and checkpoints (about 80 s)."""
    from rnnbow_desktop.cli.demo import DEFAULT_BATCHES, SAMPLE, demo_config
    from rnnbow_desktop.core.corpus import load_corpus
    from rnnbow_desktop.storage.run import TrainingRun

    config = demo_config("lstm")
    path = folder / f"{SAMPLE}-lstm.h5"
    start = time.monotonic()
    with TrainingRun(load_corpus(SAMPLE, min_length=config.seq_length + 1), config, path) as run:
        for _ in range(DEFAULT_BATCHES):
            run.step()
    print(f"  trained {path.name}: {DEFAULT_BATCHES} batches in {time.monotonic() - start:.0f} s")
    return path


def dynamics_screenshot(session: Path, path: Path, settings_dir: Path) -> None:
    """The Dynamics view, floated to DYNAMICS_SIZE, once it has computed; the unit that travels farthest selected."""
    import numpy as np

    from rnnbow_desktop.gui.selection import UnitChoice

    window = open_window(session, settings_dir)
    dock = window.dynamics_dock
    dock.setFloating(True)
    dock.resize(*DYNAMICS_SIZE)
    dock.show()
    dock.raise_()
    deadline = time.monotonic() + DYNAMICS_WAIT_S
    view = window.dynamics
    while (view.dynamics is None or view.busy) and time.monotonic() < deadline:
        settle(250)
    d = view.dynamics
    if d is None:
        sys.exit(f"the Dynamics view showed nothing for {session}: {view.status.text()}")
    paths = np.swapaxes(d.embedding, 0, 1)  # (H, C, 2) every unit's path
    unit = int(np.argmax(np.linalg.norm(np.diff(paths, axis=1), axis=2).sum(axis=1)))
    window.selection.set_unit(UnitChoice(d.state, unit))  # as a click on one of its points does
    window.selection.set_checkpoint(int(d.checkpoints[len(d.checkpoints) // 2]))
    settle(400)
    if not view.grab().save(str(path)):
        sys.exit(f"could not write {path}")
    print(f"  wrote {path} (unit {unit} selected)")
    close(window)


def findings_screenshot(folder: Path, path: Path, settings_dir: Path) -> None:
    """The views and the Findings list of a run whose text changes character halfway; the best finding selected."""
    import sysconfig

    from rnnbow_desktop.core.corpus import load_corpus

    headers = Path(sysconfig.get_paths()["include"])
    c_text = "".join(p.read_text(errors="ignore") for p in sorted(headers.glob("*.h")))[:FINDINGS_PART]
    brackets = load_corpus("brackets")
    corpus = folder / "c-then-brackets.txt"
    corpus.write_text(c_text + brackets.decode(brackets.ids[:FINDINGS_PART]), encoding="utf-8")
    session = folder / "c-then-brackets.h5"
    train(str(corpus), session, FINDINGS_BATCHES)
    window = open_window(session, settings_dir)
    for dock in (window.train_dock, window.loss_dock, window.samples_dock):
        dock.hide()
    window.findings_dock.show()
    window.findings_dock.raise_()
    deadline = time.monotonic() + 60
    while window.findings_tracker.records < len(window.store) and time.monotonic() < deadline:
        settle(250)
    if not window.findings_tracker.findings:
        sys.exit(f"no findings in {session}: {window.findings_tracker.status()}")
    window.findings_panel.go_to(window.findings_tracker.findings[0])
    grab(window, path)
    close(window)


def long_sequence_screenshot(folder: Path, path: Path, settings_dir: Path) -> None:
    """The four views of a 512-step batch, zoomed to a range of steps, one loss hovered."""
    session = folder / "c-like-512.h5"
    train("c-like", session, LONG_BATCHES, "--hidden", str(LONG_HIDDEN), "--seq-len", str(LONG_N),
          "--checkpoint-every", "0", "--sample-every", "0")
    window = open_window(session, settings_dir)
    window.selection.select(len(window.store) - 1)
    window.selection.set_step_range(LONG_STEPS)
    window.selection.set_hovered_loss(LONG_HOVER_T)
    settle(400)
    if not window.views.grab().save(str(path)):
        sys.exit(f"could not write {path}")
    print(f"  wrote {path}")
    close(window)


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
    parser.add_argument("--skip-dynamics", action="store_true", help="do not make dynamics-lstm.png")
    parser.add_argument("--skip-findings", action="store_true", help="do not make findings.png")
    parser.add_argument("--skip-long", action="store_true", help="do not make long-sequence.png")
    parser.add_argument("--dynamics-only", action="store_true", help="make only dynamics-lstm.png")
    parser.add_argument("--demo-lstm", type=Path, default=None, metavar="SESSION.h5",
                        help="rnnbow demo's long-range-lstm.h5 to picture, instead of training it")
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
        if not args.skip_dynamics:
            lstm = args.demo_lstm if args.demo_lstm is not None else train_demo_lstm(tmp)
            dynamics_screenshot(lstm, args.out / "dynamics-lstm.png", tmp / "settings-dynamics")
        if args.dynamics_only:
            return 0
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

        if not args.skip_findings:
            findings_screenshot(tmp, args.out / "findings.png", tmp / "settings-findings")
        if not args.skip_long:
            long_sequence_screenshot(tmp, args.out / "long-sequence.png", tmp / "settings-long")

        if not args.skip_live:
            live_screenshot(args.out / "window-live.png", tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
