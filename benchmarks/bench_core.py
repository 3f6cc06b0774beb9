"""Core speed, as ratios against the textbook per-step loop measured in the same run.

    python benchmarks/bench_core.py            # all three parts (about 2 minutes)
    python benchmarks/bench_core.py --quick    # smaller repeat counts

1. One batch: the itemized pass with every recorded quantity vs the textbook loop's summed gradient.
2. End to end: `rnnbow train` recording every batch vs the textbook training loop recording nothing.
3. Cost per recorded batch over n × H, to choose `--record-every`.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # as the app does (rnnbow_desktop/cli.py)

import argparse  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baseline import TextbookRNN, train as baseline_train  # noqa: E402

from rnnbow_desktop.core.corpus import load_corpus  # noqa: E402
from rnnbow_desktop.core.itemized import Workspace  # noqa: E402
from rnnbow_desktop.core.config import TrainConfig
from rnnbow_desktop.core.training import Trainer, batch_gradients


def best_of(repeats: int, fn) -> float:
    """Minimum over repeats of the mean time per call; the minimum is the least noisy estimate."""
    times = []
    for _ in range(repeats):
        times.append(fn())
    return min(times)


def per_batch_itemized(corpus, H: int, n: int, batches: int) -> float:
    trainer = Trainer(corpus, TrainConfig(hidden_size=H, seq_length=n))
    ids, work = corpus.ids, Workspace()
    state = trainer.cell.zero_state(H)
    start = time.perf_counter()
    for b in range(batches):
        p = (b * n) % (len(ids) - n - 1)
        batch_gradients(trainer.cell, trainer.params, ids[p : p + n], ids[p + 1 : p + n + 1], state, True, 0.05, work)
    return (time.perf_counter() - start) / batches


def per_batch_baseline(corpus, H: int, n: int, batches: int) -> float:
    model = TextbookRNN(corpus.vocab_size, H)
    ids, h = corpus.ids, np.zeros((H, 1))
    start = time.perf_counter()
    for b in range(batches):
        p = (b * n) % (len(ids) - n - 1)
        model.loss_and_gradients(ids[p : p + n], ids[p + 1 : p + n + 1], h)
    return (time.perf_counter() - start) / batches


def end_to_end(corpus_spec: str, batches: int, tmp: Path) -> tuple[float, float]:
    """Wall time of the `rnnbow train` command (recording every batch) and of the baseline loop."""
    out = tmp / "bench.h5"
    cmd = [sys.executable, "-m", "rnnbow_desktop", "train", corpus_spec, "--batches", str(batches),
           "--record-every", "1", "--out", str(out), "--force", "--quiet"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    ours = time.perf_counter() - start
    corpus = load_corpus(corpus_spec)
    code = (
        "import sys, time; sys.path.insert(0, %r)\n"
        "start = time.perf_counter()\n"
        "from baseline import train\n"
        "from rnnbow_desktop.core.corpus import load_corpus\n"
        "c = load_corpus(%r)\n"
        "train(c.ids, %d, c.vocab_size)\n"
    ) % (str(Path(__file__).resolve().parent), corpus_spec, batches)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    base = time.perf_counter() - start
    del corpus
    return ours, base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--corpus", default="python-c-headers", help="default: the running Python's C headers")
    args = parser.parse_args()
    scale = 0.25 if args.quick else 1.0
    corpus = load_corpus(args.corpus)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}")
    print(f"corpus: {corpus.name}, {len(corpus.ids):,} characters, vocabulary {corpus.vocab_size}")

    # 1 -------------------------------------------------------------------------------------------
    nb = int(2000 * scale)
    base = best_of(3, lambda: per_batch_baseline(corpus, 100, 25, nb))
    ours = best_of(3, lambda: per_batch_itemized(corpus, 100, 25, nb))
    print("\n1. One batch, H = 100, n = 25")
    print(f"   textbook loop (summed gradient only)  {base * 1e3:7.3f} ms")
    print(f"   itemized pass (all recorded values)   {ours * 1e3:7.3f} ms")
    print(f"   ratio itemized / textbook             {ours / base:7.2f}   (target <= 0.5)")

    # 2 -------------------------------------------------------------------------------------------
    batches = int(5000 * scale)
    with tempfile.TemporaryDirectory() as tmp:
        runs = [end_to_end(args.corpus, batches, Path(tmp)) for _ in range(2)]
    ours_e2e = min(r[0] for r in runs)
    base_e2e = min(r[1] for r in runs)
    print(f"\n2. End to end, {batches:,} batches (process start, corpus load and file writing included)")
    print(f"   textbook training loop, records nothing   {base_e2e:6.2f} s")
    print(f"   rnnbow train --record-every 1             {ours_e2e:6.2f} s")
    print(f"   ratio                                     {ours_e2e / base_e2e:6.2f}   (target <= 0.6)")

    # 3 -------------------------------------------------------------------------------------------
    print("\n3. Itemized pass per recorded batch (ms); textbook loop in brackets")
    sizes_h = (100, 256, 512)
    print("   n \\ H " + "".join(f"{h:>22}" for h in sizes_h))
    for n in (25, 50, 100, 200):
        cells = []
        for H in sizes_h:
            reps = max(3, int(400 * scale * (25 / n) ** 2 * (100 / H) ** 1.5))
            t_ours = best_of(2, lambda: per_batch_itemized(corpus, H, n, reps))
            t_base = best_of(2, lambda: per_batch_baseline(corpus, H, n, max(3, reps)))
            cells.append(f"{t_ours * 1e3:9.2f} [{t_base * 1e3:8.2f}]")
        print(f"   {n:5d} " + "".join(f"{c:>22}" for c in cells))


if __name__ == "__main__":
    main()
