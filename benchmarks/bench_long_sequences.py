"""Cost of one recorded batch as the sequence grows: time and peak memory of the itemized pass at n = 25 … 512.

    python benchmarks/bench_long_sequences.py                 # rnn at H = 100 and 256, lstm and gru at n = 512, H = 256
    python benchmarks/bench_long_sequences.py --quick         # fewer repeats, rnn only
    python benchmarks/bench_long_sequences.py --cells rnn lstm --hidden 256 --lengths 256 512

Every configuration runs in a fresh process (so one's buffers do not hide another's peak) and
reports, for `batch_gradients(..., itemize=True)` with every recorded quantity:
  - CPU time per batch (the least of several; CPU rather than wall time, as the machines are shared), against the same cell's plain summed BPTT (`itemize=False`) measured in the
    same process, and the growth of the time from one n to the next (as an exponent of n);
  - peak memory: numpy's allocations during one batch (tracemalloc), and the process's peak
    resident size (ru_maxrss) minus its size before the first batch.
The issue's budget is 1 GB at n = 512, H = 256.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # as the app does

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

LENGTHS = (25, 100, 256, 512)
MB = 1e6


def _rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux


def measure_one(cell_name: str, H: int, n: int, seconds: float) -> dict:
    """Time and memory of one configuration, in this process."""
    from rnnbow_desktop.core import itemized
    from rnnbow_desktop.core.cells import make_cell
    from rnnbow_desktop.core.corpus import load_corpus
    from rnnbow_desktop.core.training import batch_gradients

    corpus = load_corpus("python-c-headers")
    cell = make_cell(cell_name)
    rng = np.random.default_rng(0)
    # Weights of a trained network's scale, so gradients reach far back and nothing underflows.
    params = {k: v + rng.standard_normal(v.shape) * 0.1 for k, v in cell.init_params(rng, H, corpus.vocab_size).items()}
    state0 = tuple(np.tanh(rng.standard_normal(H)) for _ in range(cell.n_state))
    inputs, targets = corpus.ids[:n], corpus.ids[1 : n + 1]
    work = itemized.Workspace()

    def run(itemize: bool) -> None:
        batch_gradients(cell, params, inputs, targets, state0, itemize, 0.05, work)

    rss_before = _rss_bytes()
    tracemalloc.start()
    run(True)  # first batch: the workspace's buffers are made here, so it holds the peak
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_peak = _rss_bytes()

    def per_batch(itemize: bool) -> float:
        best = math.inf
        spent = 0.0
        calls = 0
        while calls < 3 or spent < seconds:
            start = time.process_time()
            run(itemize)
            took = time.process_time() - start
            best = min(best, took)
            spent += took
            calls += 1
        return best

    return {
        "cell": cell_name, "H": H, "n": n,
        "itemized_s": per_batch(True), "plain_s": per_batch(False),
        "traced_peak": traced_peak, "rss_growth": rss_peak - rss_before, "rss_peak": rss_peak,
    }


def in_subprocess(cell: str, H: int, n: int, seconds: float) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--one", cell, str(H), str(n), "--seconds", str(seconds)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "?"


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f}" if seconds < 10 else f"{seconds:,.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cells", nargs="+", default=None)
    parser.add_argument("--hidden", nargs="+", type=int, default=None)
    parser.add_argument("--lengths", nargs="+", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None, help="time spent per measurement (default 2, quick 0.5)")
    parser.add_argument("--one", nargs=3, metavar=("CELL", "H", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    seconds = args.seconds if args.seconds is not None else 0.5 if args.quick else 2.0
    if args.one:
        cell, H, n = args.one[0], int(args.one[1]), int(args.one[2])
        print(json.dumps(measure_one(cell, H, n, seconds)))
        return

    lengths = tuple(args.lengths or LENGTHS)
    if args.cells or args.hidden:
        configs = [(c, h) for c in (args.cells or ["rnn"]) for h in (args.hidden or [100, 256])]
        grid = [(c, h, n) for c, h in configs for n in lengths]
    else:
        grid = [("rnn", h, n) for h in (100, 256) for n in lengths]
        if not args.quick:
            grid += [(c, 256, 512) for c in ("lstm", "gru")]

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {_cpu_model()}, "
          f"Python {platform.python_version()}, numpy {np.__version__}, "
          f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}")
    print("one recorded batch, batch_gradients(itemize=True), each configuration in a fresh process; CPU time\n")
    header = (f"{'cell':5} {'H':>4} {'n':>4} {'itemized ms':>12} {'plain ms':>9} {'ratio':>6} "
              f"{'growth':>7} {'numpy peak MB':>14} {'RSS growth MB':>14}")
    print(header)
    previous: dict = {}
    for cell, H, n in grid:
        r = in_subprocess(cell, H, n, seconds)
        key = (cell, H)
        growth = ""
        if key in previous:
            n0, t0 = previous[key]
            growth = f"n^{math.log(r['itemized_s'] / t0) / math.log(n / n0):.2f}"
        previous[key] = (n, r["itemized_s"])
        print(f"{cell:5} {H:>4} {n:>4} {_ms(r['itemized_s']):>12} {_ms(r['plain_s']):>9} "
              f"{r['itemized_s'] / r['plain_s']:>6.1f} {growth:>7} {r['traced_peak'] / MB:>14,.0f} "
              f"{r['rss_growth'] / MB:>14,.0f}", flush=True)
    print("\ngrowth: the exponent p in time ∝ n^p between this row's n and the row above's (same cell and H)")


if __name__ == "__main__":
    main()
