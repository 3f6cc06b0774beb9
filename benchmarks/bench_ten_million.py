"""Ten million records: opening a session, drawing the overview and hovering it, against the old way, in the same run.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_ten_million.py            # builds a 10,000,000-record file
    QT_QPA_PLATFORM=offscreen python benchmarks/bench_ten_million.py --records 2000000 --keep /tmp/big.h5

The file is not trained (ten million batches take about seven hours here): it is written directly with
h5py and numpy in the session layout (format 2, compact records, with the overview summary), from a
real session of 2,048 trained batches (n = 25, hidden 100): the batch, position, max gradient, horizon
and loss columns and the summary cover all records (max gradient and horizon a made-up series with a
trend, noise and spikes; positions walking through the corpus; losses the trained ones, repeated);
the other columns (itemized, contribution, step gradient, truncation error, predictions) hold the
trained records' chunks, repeated, in 16 windows of 4,096 records spread over the run, which is where
the benchmark hovers (--full writes them everywhere: about 25 GB). Where they are not written they read
as fill values; the pre-flight check then finds fewer chunks to index than in a real file.

A second file holds the same batch, position, max gradient and horizon columns in format 1 (as earlier
releases wrote them: uncompressed, no summary; its other columns unwritten).

Each measurement runs in a fresh process, so its peak memory is its own:
- new: `RecordStore.open` (with the reader's pre-flight check in a child process, as for any file this
  process did not write), the four gradient views and the overview drawn at 1400 × 900, then 40 hovers
  over the overview (each until the previewed batch is drawn in every view) and 10 zooms;
- format 1, new: the same opening of the format-1 file (the overview drawn from a sample of the records
  while the summary is rebuilt in the background), and the time until the rebuilt summary is drawn;
- old: what the window did before, on the format-1 file: the batch, max gradient and horizon columns
  read whole and a curve of every record, peak-downsampled by pyqtgraph (with today's pre-flight check).
Targets (issue 17): open + overview ≤ 2 s and ≤ 400 MB; a hover ≤ 50 ms.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402

WINDOWS = 16
WINDOW_RECORDS = 4096
HOVERS = 40
SEED_BATCHES = 2048


def _status_mb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_mb() -> float:
    """Peak resident memory of this process in MB. Linux: VmHWM, not ru_maxrss, which a process started
    by another keeps from its parent's peak (execve carries the larger of the two over)."""
    peak = _status_mb("VmHWM:")
    if peak is not None:
        return peak
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def current_mb() -> float:
    now = _status_mb("VmRSS:")
    return float("nan") if now is None else now


# -- building the file ----------------------------------------------------------------------------------
def made_up_series(first: int, count: int, total: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Max gradient and horizon of records first:first+count: a decaying trend, noise, rare spikes."""
    i = np.arange(first, first + count, dtype=np.float64)
    trend = 2.0 + 30.0 * np.exp(-i / (0.05 * total))
    max_gradient = trend * rng.lognormal(0.0, 0.35, count)
    spikes = rng.random(count) < 2e-5
    max_gradient[spikes] *= rng.uniform(5, 40, spikes.sum())
    horizon = np.clip(np.round(8 + 6 * np.sin(i / (0.07 * total)) + rng.normal(0, 2, count)), 1, 25)
    return max_gradient.astype(np.float32), horizon.astype(np.int32)


def build_format_1(path: Path, compact: Path) -> None:
    """The compact file's batch, position, max gradient and horizon as a format-1 session (earlier releases'
    layout); its other record columns are declared but never written, compressed so the reader accepts
    their size."""
    from rnnbow_desktop.core.config import TrainConfig
    from rnnbow_desktop.core.corpus import load_corpus
    from rnnbow_desktop.storage.writer import SessionWriter

    config = TrainConfig(checkpoint_every=0, sample_every=0)
    corpus = load_corpus("c-like", min_length=config.seq_length + 1)
    with SessionWriter(path, config, corpus, force=True, compact=False):
        pass
    with h5py.File(compact, "r") as source, h5py.File(path, "r+") as f:
        records = source["records/batch"].shape[0]
        group = f["records"]
        for name in list(group):
            old = group[name]
            dtype, row_shape, chunks = old.dtype, old.shape[1:], old.chunks
            written = name in ("batch", "position", "max_gradient", "horizon")
            del group[name]
            group.create_dataset(name, shape=(records, *row_shape), maxshape=(None, *row_shape), dtype=dtype,
                                 chunks=chunks, **({} if written else {"compression": "gzip"}))
        for lo in range(0, records, 1 << 20):
            hi = min(records, lo + (1 << 20))
            for name in ("batch", "position", "max_gradient", "horizon"):
                group[name][lo:hi] = source["records"][name][lo:hi]
        f["training/loss"].resize(records, axis=0)
        f["training/loss"][:] = source["training/loss"][:]
        f.attrs["complete"] = True


def build(path: Path, records: int, full: bool) -> dict:
    from rnnbow_desktop.analysis.series_summary import BLOCK_SIZES, SummaryBuilder
    from rnnbow_desktop.core.config import TrainConfig
    from rnnbow_desktop.core.corpus import load_corpus
    from rnnbow_desktop.core.training import Trainer
    from rnnbow_desktop.storage.compressed_columns import shuffle_deflate
    from rnnbow_desktop.storage.schema import SUMMARY_GROUP
    from rnnbow_desktop.storage.writer import SessionWriter

    config = TrainConfig(checkpoint_every=0, sample_every=0)
    corpus = load_corpus("c-like", min_length=config.seq_length + 1)
    n = config.seq_length
    seed_path = path.with_name(path.stem + "-small.h5")  # kept: the hover baseline
    trainer = Trainer(corpus, config)
    with SessionWriter(seed_path, config, corpus, force=True) as writer:
        for _ in range(SEED_BATCHES):
            writer.add(trainer.step())
    with SessionWriter(path, config, corpus, force=True):
        pass  # the empty session: header, corpus, every dataset of the layout
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    with h5py.File(seed_path, "r") as seed, h5py.File(path, "r+") as f:
        rec = f["records"]
        rows = rec["itemized"].chunks[0]
        seed_chunks = SEED_BATCHES // rows
        tiled = {}  # column -> the seed's complete chunks, as stored
        for name in ("itemized", "contribution", "step_gradient", "truncation_error", "predictions", "loss"):
            ds = seed["records"][name]
            tiled[name] = [ds.id.read_direct_chunk((k * rows,) + (0,) * (ds.ndim - 1)) for k in range(seed_chunks)]
        seed_loss = seed["records/loss"][: seed_chunks * rows].astype(np.float32)  # (S, n)
        seed_lpc = seed_loss.mean(axis=1, dtype=np.float64)
        for name in rec:
            rec[name].resize(records, axis=0)
        per_pass = max(1, -(-(len(corpus.ids) - n - 1) // n))
        chunks = -(-records // rows)
        per_window = WINDOW_RECORDS // rows
        window_firsts = sorted({int(w) for w in np.linspace(0, chunks - per_window, WINDOWS).astype(int)})
        window_starts = {c for w in window_firsts for c in range(w, w + per_window)}
        builder = SummaryBuilder()
        summary_rows = [0] * len(BLOCK_SIZES)
        loss_total = np.empty(records, np.float32)
        block = rows * ((1 << 20) // rows)  # whole chunks at a time
        for lo in range(0, records, block):
            hi = min(records, lo + block)
            index = np.arange(lo, hi, dtype=np.int64)
            rec["batch"][lo:hi] = index
            max_gradient, horizon = made_up_series(lo, hi - lo, records, rng)
            position = (index % per_pass) * n
            lpc = seed_lpc[index % len(seed_lpc)]
            loss_total[lo:hi] = (lpc * n).astype(np.float32)
            for k in range(lo // rows, -(-hi // rows)):
                a, b = k * rows - lo, min((k + 1) * rows, hi) - lo
                for name, values in (("position", position), ("max_gradient", max_gradient), ("horizon", horizon)):
                    chunk = np.zeros(rows, values.dtype)
                    chunk[: b - a] = values[a:b]
                    rec[name].id.write_direct_chunk((k * rows,), shuffle_deflate(chunk), filter_mask=0)
                mask, data = tiled["loss"][k % seed_chunks]
                rec["loss"].id.write_direct_chunk((k * rows, 0), data, filter_mask=mask)
                if full or k in window_starts:
                    for name in ("itemized", "contribution", "step_gradient", "truncation_error", "predictions"):
                        mask, data = tiled[name][k % seed_chunks]
                        rec[name].id.write_direct_chunk((k * rows, 0), data, filter_mask=mask)
            for level, new in enumerate(builder.extend(index, {"max_gradient": max_gradient.astype(np.float64),
                                                                "horizon": horizon.astype(np.float64),
                                                                "loss_per_char": lpc})):
                if len(new):
                    group = f[f"{SUMMARY_GROUP}/{BLOCK_SIZES[level]}"]
                    start = summary_rows[level]
                    for name, values in (("batch", new.batch), *((s, new.stats[s].astype(np.float32))
                                                                  for s in ("max_gradient", "horizon", "loss_per_char"))):
                        group[name].resize(start + len(new), axis=0)
                        group[name][start:] = values
                    summary_rows[level] += len(new)
            print(f"  built {hi:,} of {records:,} records", end="\r", flush=True)
        f["training/loss"].resize(records, axis=0)
        f["training/loss"][:] = loss_total
        f.attrs["complete"] = True
    return {"seconds": time.perf_counter() - started, "bytes": path.stat().st_size,
            "windows": [[w * rows, (w + per_window) * rows] for w in window_firsts]}


# -- measurements, each in its own process -------------------------------------------------------------
def pump(app, rounds: int = 3) -> None:
    for _ in range(rounds):
        app.processEvents()


def shown_views():
    """The four gradient views and their selection, shown at 1400 × 900 with nothing open: (app, selection, views)."""
    from PySide6.QtWidgets import QApplication

    from rnnbow_desktop.gui.gradient_views import GradientViews
    from rnnbow_desktop.gui.selection import SelectionModel

    app = QApplication.instance() or QApplication([])
    selection = SelectionModel()
    views = GradientViews(selection)
    views.resize(1400, 900)
    views.show()
    pump(app)
    return app, selection, views


def measure_new(path: str, windows: list) -> dict:
    from PySide6.QtCore import QPointF

    from rnnbow_desktop.storage.record_store import RecordStore

    app, selection, views = shown_views()
    before = current_mb()
    start = time.perf_counter()
    store = RecordStore.open(path)
    opened = time.perf_counter()
    views.set_store(store)
    selection.select(len(store) - 1, user=False)  # as the window does on opening
    pump(app)
    views.grab()  # paint everything once
    drawn = time.perf_counter()
    after_open = {"open_s": opened - start, "open_and_draw_s": drawn - start, "rss_mb": current_mb(),
                  "peak_mb": peak_mb(), "added_mb": current_mb() - before, "records": len(store)}
    overview = views.overview
    vb = overview.plot.vb
    rng = np.random.default_rng(1)
    hover_ms, hover_cpu_ms = [], []
    for _ in range(HOVERS):
        lo, hi = windows[rng.integers(len(windows))]
        # Zoomed so that a pixel is a few records (untimed): every hover then lands in a written window.
        overview.plot.setXRange(lo - 20_000, hi + 20_000, padding=0)
        overview._draw_series()
        pump(app, 2)
        batch = float(rng.integers(lo + 200, hi - 200))
        scene = vb.mapViewToScene(QPointF(batch, vb.viewRange()[1][0]))
        t, cpu = time.perf_counter(), time.thread_time()
        overview.hover_at_scene(scene)
        pump(app, 2)
        views.bars.grab()  # the previewed batch drawn in the views
        hover_ms.append((time.perf_counter() - t) * 1000)
        hover_cpu_ms.append((time.thread_time() - cpu) * 1000)
    zoom_ms = []
    for k in range(10):
        lo, hi = windows[rng.integers(len(windows))]
        width = [100, 1000, 10_000, 100_000, 1_000_000][k % 5]
        t = time.perf_counter()
        overview.plot.setXRange(max(0, lo - width / 2), lo + width / 2, padding=0)
        overview._draw_series()  # what the redraw timer does once the zoom pauses
        pump(app, 2)
        overview.graphics.grab()
        zoom_ms.append((time.perf_counter() - t) * 1000)
    store.close()
    return {**after_open, "hover_ms": hover_ms, "hover_cpu_ms": hover_cpu_ms, "zoom_ms": zoom_ms,
            "final_peak_mb": peak_mb()}


def measure_format_1(path: str) -> dict:
    """Opening a format-1 file of ten million records: drawn from a sample at once, then from the rebuilt summary."""
    from rnnbow_desktop.storage.record_store import RecordStore

    app, selection, views = shown_views()
    before = current_mb()
    start = time.perf_counter()
    store = RecordStore.open(path)
    views.set_store(store)
    selection.select(len(store) - 1, user=False)
    pump(app)
    views.grab()
    drawn = time.perf_counter()
    while views.overview.rebuild.running:
        pump(app, 1)
        time.sleep(0.02)
    pump(app)
    views.overview.graphics.grab()
    summarised = time.perf_counter()
    store.close()
    return {"open_and_draw_s": drawn - start, "summary_drawn_s": summarised - start, "added_mb": current_mb() - before,
            "peak_mb": peak_mb()}


def measure_old(path: str) -> dict:
    """The window before: the three columns read whole, and a curve of every record (pyqtgraph's peak downsampling)."""
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    from rnnbow_desktop.storage.reader import Session

    app = QApplication.instance() or QApplication([])
    widget = pg.GraphicsLayoutWidget()
    widget.resize(1400, 300)
    plot, horizon_plot = widget.addPlot(row=0, col=0), widget.addPlot(row=1, col=0)
    curves = []
    for p in (plot, horizon_plot):
        item = pg.PlotDataItem(fillLevel=0 if p is plot else None)
        item.setSkipFiniteCheck(True)
        p.addItem(item)
        p.setDownsampling(auto=True, mode="peak")
        p.setClipToView(True)
        curves.append(item)
    widget.show()
    pump(app)
    before = current_mb()
    start = time.perf_counter()
    session = Session(path)
    batches, max_gradient, horizon = session.column("batch"), session.column("max_gradient"), session.column("horizon")
    read = time.perf_counter()
    curves[0].setData(batches, max_gradient)
    curves[1].setData(batches, horizon)
    pump(app)
    widget.grab()
    drawn = time.perf_counter()
    session.close()
    return {"open_s": read - start, "open_and_draw_s": drawn - start, "added_mb": current_mb() - before,
            "peak_mb": peak_mb()}


def in_child(phase: str, path: Path, windows) -> dict:
    done = subprocess.run([sys.executable, __file__, "--phase", phase, "--path", str(path), "--windows", json.dumps(windows)],
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"{phase} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--full", action="store_true", help="write every column of every record (about 25 GB)")
    parser.add_argument("--keep", type=Path, help="build the file here and keep it (or reuse it if it exists)")
    parser.add_argument("--phase", choices=("new", "old", "format-1"), help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--windows", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        windows = json.loads(args.windows) if args.windows else None
        result = {"new": lambda: measure_new(args.path, windows), "old": lambda: measure_old(args.path),
                  "format-1": lambda: measure_format_1(args.path)}[args.phase]()
        print(json.dumps(result))
        return 0

    from rnnbow_desktop.core.environment import describe_environment

    env = describe_environment()
    print(f"machine: {env.get('cpu', platform.processor())}, {env.get('cpu_count')} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}; h5py {h5py.__version__}, HDF5 {h5py.version.hdf5_version}")
    folder = Path(tempfile.mkdtemp(prefix="rnnbow-10m-"))
    path = args.keep or folder / "ten_million.h5"
    meta = path.with_suffix(".json")
    format_1 = path.with_name(path.stem + "-format1.h5")
    try:
        if path.exists() and meta.exists() and format_1.exists():
            built = json.loads(meta.read_text())
            print(f"reusing {path} ({built['bytes'] / 1e9:.2f} GB)")
        else:
            print(f"building {args.records:,} records in {path} …")
            built = build(path, args.records, args.full)
            build_format_1(format_1, path)
            meta.write_text(json.dumps(built))
            print(f"\n  built in {built['seconds']:.0f} s: {built['bytes'] / 1e9:.2f} GB")
        windows = built["windows"]
        new = in_child("new", path, windows)
        small = path.with_name(path.stem + "-small.h5")
        with h5py.File(small, "r") as f:
            small_records = f["records/batch"].shape[0]
        baseline = in_child("new", small, [[0, small_records]])  # the same hovers over a small session
        first = in_child("format-1", format_1, windows)
        old = in_child("old", format_1, windows)
        hover, zoom, cpu = np.array(new["hover_ms"]), np.array(new["zoom_ms"]), np.array(new["hover_cpu_ms"])
        base, base_cpu = np.array(baseline["hover_ms"]), np.array(baseline["hover_cpu_ms"])
        print(f"\n{new['records']:,} records:")
        print(f"  open + overview, new: {new['open_and_draw_s']:5.2f} s (open {new['open_s']:.2f} s, "
              f"with the pre-flight check), peak memory {new['peak_mb']:.0f} MB "
              f"(+{new['added_mb']:.0f} MB for the session)    target ≤ 2 s, ≤ 400 MB")
        print(f"  open + overview, old (format 1 file): {old['open_and_draw_s']:5.2f} s (columns read in {old['open_s']:.2f} s), "
              f"peak memory {old['peak_mb']:.0f} MB (+{old['added_mb']:.0f} MB)   "
              f"→ new is {old['open_and_draw_s'] / new['open_and_draw_s']:.1f}× faster")
        print(f"  format 1 file, new: overview from a sample in {first['open_and_draw_s']:.2f} s, from its rebuilt "
              f"summary in {first['summary_drawn_s']:.2f} s; peak memory {first['peak_mb']:.0f} MB")
        print(f"  hover → batch previewed in every view: median {np.median(hover):.1f} ms, "
              f"p95 {np.percentile(hover, 95):.1f} ms, max {hover.max():.1f} ms    target ≤ 50 ms")
        print(f"    CPU of the GUI thread per hover: median {np.median(cpu):.1f} ms; the same hovers over a "
              f"{small_records:,}-record session: median {np.median(base):.1f} ms, CPU {np.median(base_cpu):.1f} ms "
              f"(the views' drawing, whatever the length of the run)")
        print(f"  zoom (100 … 1,000,000 batches wide): median {np.median(zoom):.1f} ms, max {zoom.max():.1f} ms")
        print(f"  file: {built['bytes'] / 1e9:.2f} GB ({'every column written' if args.full else 'matrices in windows'})")
    finally:
        if args.keep is None:
            for item in folder.iterdir():
                item.unlink()
            folder.rmdir()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
