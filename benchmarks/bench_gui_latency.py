"""GUI responsiveness while training at full speed with live views, against the idle window and headless training.

    python benchmarks/bench_gui_latency.py                 # offscreen, 10 s of training, paper defaults
    python benchmarks/bench_gui_latency.py --seconds 30 --hidden 16 --seq-len 12

A 10 ms QTimer on the GUI thread records the actual interval between its ticks; anything above
10 ms is time the event loop could not respond (redraws, signal handling, the training thread
holding the GIL). Target: p99 ≤ 50 ms while training. Three phases in one run:
1. headless: TrainingRun.step() in a loop, no Qt at all (batches/s the GUI can at best reach);
2. idle: the window showing nothing, same timer (the latency floor of this machine);
3. training: the window training with live views, loss curve and generated text.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_tmp = tempfile.TemporaryDirectory(prefix="rnnbow-bench-")
# Never touch the user's settings or sessions folder.
os.environ["RNNBOW_SETTINGS_DIR"] = _tmp.name
os.environ["XDG_DATA_HOME"] = _tmp.name

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import rnnbow_desktop.cli  # noqa: E402,F401 — limits BLAS threads before numpy loads, as the app does
import numpy as np  # noqa: E402

from rnnbow_desktop.core.corpus import load_corpus  # noqa: E402
from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.storage.run import TrainingRun  # noqa: E402

TICK_MS = 10


def headless_rate(config: TrainConfig, seconds: float) -> float:
    corpus = load_corpus("c-like")
    with TrainingRun(corpus, config, Path(_tmp.name) / "headless.h5") as run:
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            run.step()
        return run.batch / (time.monotonic() - t0)


def tick_intervals(app, seconds: float) -> np.ndarray:
    """Run the event loop for `seconds` with a 10 ms timer; return the measured intervals in ms."""
    from PySide6.QtCore import QEventLoop, Qt, QTimer

    stamps = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(TICK_MS)
    timer.timeout.connect(lambda: stamps.append(time.perf_counter()))
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    timer.start()
    loop.exec()
    timer.stop()
    return np.diff(np.array(stamps)) * 1000.0


def describe(name: str, intervals: np.ndarray) -> str:
    p50, p99 = np.percentile(intervals, [50, 99])
    return (f"{name:<9} ticks {len(intervals):5d}   interval p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   "
            f"max {intervals.max():6.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the training phase")
    parser.add_argument("--hidden", type=int, default=TrainConfig.hidden_size)
    parser.add_argument("--seq-len", type=int, default=TrainConfig.seq_length)
    parser.add_argument("--record-every", type=int, default=TrainConfig.record_every)
    args = parser.parse_args()
    config = TrainConfig(hidden_size=args.hidden, seq_length=args.seq_len, record_every=args.record_every)

    from PySide6 import __version__ as pyside_version
    from PySide6.QtWidgets import QApplication

    from rnnbow_desktop.gui.mainwindow import MainWindow

    print(f"python {platform.python_version()}, PySide6 {pyside_version}, platform {os.environ['QT_QPA_PLATFORM']}, "
          f"hidden {config.hidden_size}, seq {config.seq_length}, record every {config.record_every}")

    headless = headless_rate(config, min(5.0, args.seconds))
    print(f"headless  {headless:8.0f} batches/s (TrainingRun.step() in a loop, no Qt)")

    app = QApplication(["bench"])
    window = MainWindow()
    window.resize(1500, 950)
    window.show()
    window.panel.set_config(config)
    window.picker.select_spec("c-like")
    while window.picker.corpus is None:
        app.processEvents()
        time.sleep(0.01)
    idle = tick_intervals(app, 3.0)
    print(describe("idle", idle))

    errors = []
    window.show_error = lambda title, message, details="": errors.append(f"{title}: {message}")
    window.panel.set_out_path(Path(_tmp.name) / "bench.h5")
    window.start_training()
    tick_intervals(app, 1.0)  # let the first redraws and the file creation settle
    b0, t0 = window.last_snapshot.batch if window.last_snapshot else 0, time.monotonic()
    training = tick_intervals(app, args.seconds)
    b1, t1 = window.last_snapshot.batch, time.monotonic()
    rate = (b1 - b0) / (t1 - t0)
    print(describe("training", training))
    print(f"training  {rate:8.0f} batches/s with live views  ({rate / headless:.2f} × headless), "
          f"{len(window.store):,} records in the store, {len(window.loss_curve):,} loss points")
    p99 = float(np.percentile(training, 99))
    print(f"p99 / idle p99: {p99 / float(np.percentile(idle, 99)):.2f}   target p99 ≤ 50 ms: "
          f"{'met' if p99 <= 50 else 'NOT met'}")
    window.close()
    if errors:
        print("errors:", *errors, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
