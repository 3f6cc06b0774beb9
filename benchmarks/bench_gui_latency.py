"""Live training in the window against headless training, and the event loop's latency, measured in one run.

    python benchmarks/bench_gui_latency.py                 # offscreen, paper defaults (H=100, n=25), every batch recorded
    python benchmarks/bench_gui_latency.py --rounds 8 --live 4 --hidden 16 --seq-len 12

Targets (issue 13, item 6): live ≥ 0.9 × headless batches per second, event-loop p99 ≤ 30 ms.

Headless is TrainingRun.step() in a loop, as `rnnbow train` runs it (no Qt involved). Live is the
main window training with all views following the newest batch. A shared or busy machine changes
its speed within seconds, so the two are interleaved: each round trains headless for a while (the
live run paused), then live; the ratio divides the summed live rate by the summed headless rate, and
the spread of the per-round ratios shows how steady the machine was. Latency: a 10 ms timer on the
GUI thread records the actual interval between its ticks; anything above 10 ms is time the event
loop could not respond. "idle" is the window with nothing to do, the floor of this machine.
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

from rnnbow_desktop.core.config import TrainConfig  # noqa: E402
from rnnbow_desktop.core.corpus import load_corpus  # noqa: E402
from rnnbow_desktop.storage.run import TrainingRun  # noqa: E402

TICK_MS = 10
SETTLE = 0.5  # seconds after resuming before a live phase is measured (first frames, queued events)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    return f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "?"


def tick_intervals(seconds: float) -> np.ndarray:
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
    parser.add_argument("--rounds", type=int, default=5, help="headless + live rounds")
    parser.add_argument("--live", type=float, default=3.0, help="seconds of live training per round")
    parser.add_argument("--headless", type=float, default=1.5, help="seconds of headless training per round")
    parser.add_argument("--hidden", type=int, default=TrainConfig.hidden_size)
    parser.add_argument("--seq-len", type=int, default=TrainConfig.seq_length)
    parser.add_argument("--cell", default=TrainConfig.cell)
    args = parser.parse_args()
    config = TrainConfig(cell=args.cell, hidden_size=args.hidden, seq_length=args.seq_len, record_every=1)

    from PySide6 import __version__ as pyside_version
    from PySide6.QtWidgets import QApplication

    from rnnbow_desktop.gui.mainwindow import MainWindow

    print(f"machine: {cpu_model()}, {os.cpu_count()} logical CPUs, {platform.system()}; load average {load_average()}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, PySide6 {pyside_version}, "
          f"platform {os.environ['QT_QPA_PLATFORM']}; {config.cell}, hidden {config.hidden_size}, "
          f"seq {config.seq_length}, every batch recorded")

    corpus = load_corpus("c-like")
    headless_run = TrainingRun(corpus, config, Path(_tmp.name) / "headless.h5")
    for _ in range(20):
        headless_run.step()  # warm caches before the first measured round

    app = QApplication(["bench"])
    window = MainWindow()
    window.resize(1500, 950)
    window.show()
    window.panel.set_config(config)
    window.picker.select_spec("c-like")
    while window.picker.corpus is None:
        app.processEvents()
        time.sleep(0.01)
    idle = tick_intervals(3.0)

    errors = []
    window.show_error = lambda title, message, details="": errors.append(f"{title}: {message}")
    window.panel.set_out_path(Path(_tmp.name) / "live.h5")
    window.start_training()
    tick_intervals(1.0)  # the first frames and the file's first flush
    controller = window.training_controller
    headless_batches = headless_time = live_batches = live_time = 0.0
    live_ticks, ratios, gui_cpu = [], [], []
    for r in range(args.rounds):
        controller.pause()
        while not (window.last_snapshot is not None and window.last_snapshot.paused) and not errors:
            app.processEvents()
            time.sleep(0.005)
        if errors:
            break
        b0, t0 = headless_run.batch, time.perf_counter()
        while time.perf_counter() - t0 < args.headless:
            headless_run.step()
        h_batches, h_time = headless_run.batch - b0, time.perf_counter() - t0
        controller.resume()
        tick_intervals(SETTLE)
        b0, t0, c0 = window.last_snapshot.batch, time.perf_counter(), time.process_time()
        live_ticks.append(tick_intervals(args.live))
        b1, t1, c1 = window.last_snapshot.batch, time.perf_counter(), time.process_time()
        headless_batches += h_batches
        headless_time += h_time
        live_batches += b1 - b0
        live_time += t1 - t0
        gui_cpu.append((c1 - c0) / (t1 - t0))
        ratios.append(((b1 - b0) / (t1 - t0)) / (h_batches / h_time))
        print(f"  round {r + 1}: headless {h_batches / h_time:6.0f} b/s   live {(b1 - b0) / (t1 - t0):6.0f} b/s   "
              f"ratio {ratios[-1]:.2f}   live p99 {np.percentile(live_ticks[-1], 99):5.1f} ms   load {load_average()}")
    headless_run.close()
    window.close()
    if errors or not ratios:
        print("errors:", *errors, sep="\n  ")
        return 1

    headless, live = headless_batches / headless_time, live_batches / live_time
    training = np.concatenate(live_ticks)
    idle_p99, live_p99 = (float(np.percentile(x, 99)) for x in (idle, training))
    print(describe("idle", idle))
    print(describe("training", training))
    print(f"GUI process CPU while training live: {np.mean(gui_cpu):.0%} of one core (both threads; a training "
          f"process of its own is not counted)")
    print(f"headless {headless:7.0f} batches/s")
    print(f"live     {live:7.0f} batches/s")
    print(f"ratio    {live / headless:7.2f} × headless (rounds {min(ratios):.2f}–{max(ratios):.2f})   target ≥ 0.9: "
          f"{'met' if live / headless >= 0.9 else 'NOT met'}")
    print(f"p99      idle {idle_p99:.1f} ms, live {live_p99:.1f} ms   target live p99 ≤ 30 ms: "
          f"{'met' if live_p99 <= 30 else 'NOT met'}   (load average at the end {load_average()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
