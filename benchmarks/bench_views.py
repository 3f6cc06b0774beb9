"""Benchmark of the gradient views: redraw per shown record (n = 25) and the overview at 1,000,000 records.

Run: QT_QPA_PLATFORM=offscreen python benchmarks/bench_views.py [--records 1000000]
Prints figures against the targets (redraw ≤ 30 ms; 1M records: open + first draw ≤ 2 s, ≤ 500 MB
added memory) and against a baseline measured in the same run: repainting the unchanged views
(what any redraw costs at least; the rest is the views' own work).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import h5py  # noqa: E402
import numpy as np  # noqa: E402


def peak_mb() -> float:
    """Peak resident memory so far in MB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def current_mb() -> float | None:
    """Resident memory now (Linux only): the peak alone hides growth below an earlier peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def make_session(path: Path, batches: int) -> Path:
    from rnnbow_desktop.core.corpus import load_corpus
    from rnnbow_desktop.core.config import TrainConfig
    from rnnbow_desktop.storage.run import TrainingRun

    config = TrainConfig(checkpoint_every=0, sample_every=0)  # the paper's sizes: hidden 100, n = 25
    corpus = load_corpus("c-like", min_length=config.seq_length + 1)
    with TrainingRun(corpus, config, path, force=True) as run:
        for _ in range(batches):
            run.step()
    return path


def make_huge_session(small: Path, path: Path, records: int) -> Path:
    """A session with `records` records, built directly: the small file's layout, the record datasets
    recreated at full length. Only the overview columns are written; the per-record matrices stay
    unwritten chunks (zeros), stored compressed so the reader accepts their declared size."""
    shutil.copyfile(small, path)
    rng = np.random.default_rng(0)
    with h5py.File(path, "r+") as f:
        group = f["records"]
        for name in list(group):
            old = group[name]
            dtype, row_shape, chunks = old.dtype, old.shape[1:], old.chunks
            del group[name]
            group.create_dataset(
                name, shape=(records, *row_shape), maxshape=(None, *row_shape), dtype=dtype,
                chunks=chunks, compression="gzip",
            )
        group["batch"][:] = np.arange(records, dtype=np.int64)
        group["position"][:] = (np.arange(records, dtype=np.int64) * 25) % 400_000
        group["max_gradient"][:] = rng.gamma(2.0, 5.0, records).astype(np.float32)
        group["horizon"][:] = rng.integers(1, 26, records, dtype=np.int32)
    return path


def pump(app, rounds: int = 2) -> None:
    for _ in range(rounds):
        app.processEvents()


def timed(fn, repeats: int) -> np.ndarray:
    out = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        fn(i)
        out[i] = time.perf_counter() - start
    return out * 1000


def show(label: str, ms: np.ndarray, baseline: float, target: float | None = None) -> None:
    extra = f"   target ≤ {target:g} ms: {'ok' if np.percentile(ms, 95) <= target else 'MISSED'}" if target else ""
    print(f"  {label:<44} mean {ms.mean():7.2f} ms   p95 {np.percentile(ms, 95):7.2f} ms"
          f"   ({ms.mean() / baseline:5.1f}× baseline){extra}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--batches", type=int, default=600, help="batches trained for the redraw benchmark")
    args = parser.parse_args()

    from PySide6.QtWidgets import QApplication

    from rnnbow_desktop.gui.gradient_views import GradientViews
    from rnnbow_desktop.gui.selection import SelectionModel
    from rnnbow_desktop.storage.record_store import RecordStore

    app = QApplication.instance() or QApplication([])
    folder = Path(tempfile.mkdtemp(prefix="rnnbow-bench-"))
    try:
        small = make_session(folder / "small.h5", args.batches)
        selection = SelectionModel()
        views = GradientViews(selection)
        views.resize(1400, 900)
        views.show()
        pump(app)

        # The million-record overview first, while the process's memory peak is still low.
        print(f"overview with {args.records:,} records")
        start = time.perf_counter()
        huge = make_huge_session(small, folder / "huge.h5", args.records)
        print(f"  built the file with h5py in {time.perf_counter() - start:.1f} s ({huge.stat().st_size / 1e6:.0f} MB on disk)")
        pump(app)
        peak_before, now_before = peak_mb(), current_mb()
        start = time.perf_counter()
        store = RecordStore.open(huge)
        opened = time.perf_counter() - start
        views.set_store(store)
        pump(app)
        shown = time.perf_counter() - start
        assert len(views.overview.max_curve.getOriginalDataset()[0]) == args.records
        print(f"  RecordStore.open {opened * 1000:6.0f} ms;  open + first draw {shown * 1000:6.0f} ms"
              f"   target ≤ 2000 ms: {'ok' if shown <= 2 else 'MISSED'}")
        print(f"  points drawn after peak downsampling: {len(views.overview.max_curve.getData()[0]):,}")
        added = peak_mb() - peak_before
        line = f"  added memory: peak (maxrss) +{added:.0f} MB"
        if now_before is not None:
            added = max(added, current_mb() - now_before)
            line += f", resident +{current_mb() - now_before:.0f} MB"
        print(f"{line}   target ≤ 500 MB: {'ok' if added <= 500 else 'MISSED'}")
        idle = timed(lambda i: views.repaint(), 50).mean()
        print(f"  baseline: repainting the unchanged views {idle:.2f} ms")
        vb = views.overview.plot.vb
        rng = np.random.default_rng(2)
        spans = [(lo, lo + w) for lo, w in zip(rng.uniform(0, args.records * 0.9, 20), rng.uniform(1e3, args.records * 0.1, 20))]
        zoom = timed(lambda i: (vb.setXRange(*spans[i], padding=0), app.processEvents()), len(spans))
        show("zoom redraw", zoom, idle)
        full = timed(lambda i: (vb.setXRange(0, args.records * (1 - 0.01 * (i % 2)), padding=0), app.processEvents()), 10)
        show("full-range redraw", full, idle)
        picks = rng.integers(0, args.records, 100)
        preview = timed(lambda i: (selection.set_preview(int(picks[i])), app.processEvents()), 100)
        show("overview hover → preview a record", preview, idle, target=30)
        append = timed(lambda i: (views.records_appended(), app.processEvents()), 10)
        show("records_appended at full size (live growth)", append, idle)
        selection.set_preview(None)
        views.set_store(None)
        store.close()

        store = RecordStore.open(small)
        views.set_store(store)
        pump(app)
        idle = timed(lambda i: views.repaint(), 50).mean()
        print(f"views 1–3, n = {store.config.seq_length}, {len(store)} records: set_preview + processEvents")
        print(f"  baseline: repainting the unchanged views {idle:.2f} ms")
        order = np.random.default_rng(1).permutation(len(store))[:200]
        cold = timed(lambda i: (selection.set_preview(int(order[i])), app.processEvents()), len(order))
        show("200 records read from the file (first visit)", cold, idle, target=30)
        warm = timed(lambda i: (selection.set_preview(int(order[i])), app.processEvents()), len(order))
        show("the same 200 records, cached", warm, idle, target=30)
        selection.set_preview(None)
        hover = timed(lambda i: (selection.set_hovered_loss(i % 25), app.processEvents()), 200)
        show("hovered loss changes (area 2 highlight + area 3)", hover, idle)
        views.set_store(None)
        store.close()
        views.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
