"""Cost of itemizing, per cell: the itemized pass against the same cell's plain BPTT, measured in one run.

    python benchmarks/bench_cells.py             # H = 100, n = 25, the C-header corpus (V ≈ 100)
    python benchmarks/bench_cells.py --quick

For each cell, one batch of `batch_gradients(..., itemize=True, work=Workspace())` (every recorded
quantity included) is timed against `itemize=False` (one summed row through the same cell: plain
BPTT, nothing recorded), then split into its parts to show where the time goes.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # as the app does (rnnbow_desktop/cli.py)

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from rnnbow_desktop.core import itemized  # noqa: E402
from rnnbow_desktop.core.cells import CELLS, make_cell  # noqa: E402
from rnnbow_desktop.core.corpus import load_corpus  # noqa: E402
from rnnbow_desktop.core.training import batch_gradients


def best_of(repeats: int, fn) -> float:
    """Minimum over repeats of the mean time per call; the minimum is the least noisy estimate."""
    return min(fn() for _ in range(repeats))


def per_call(fn, calls: int) -> float:
    fn()  # warm buffers and caches
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def setup(name: str, corpus, H: int, n: int, seed: int = 0):
    """A cell with parameters of a trained-network scale and one batch of the corpus."""
    cell = make_cell(name)
    rng = np.random.default_rng(seed)
    params = {k: v + rng.standard_normal(v.shape) * 0.1 for k, v in cell.init_params(rng, H, corpus.vocab_size).items()}
    state0 = tuple(np.tanh(rng.standard_normal(H)) for _ in range(cell.n_state))
    ids = corpus.ids
    return cell, params, ids[:n], ids[1 : n + 1], state0


def parts(cell, params, inputs, targets, state0, work, calls: int) -> dict:
    """Time of each stage of one batch (ms), for the itemized and the plain pass."""
    fwd = cell.forward(params, inputs, state0)
    W_d = params["decoder_weight"]
    logits = fwd.hs[1:] @ W_d.T + params["decoder_bias"]
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(targets)), targets] -= 1.0
    dh_local = p @ W_d
    gates, deltas = itemized.sweep(cell, params, fwd, dh_local, True, work)
    ms = 1e3
    return {
        "forward": per_call(lambda: cell.forward(params, inputs, state0), calls) * ms,
        "sweep itemized": per_call(lambda: itemized.sweep(cell, params, fwd, dh_local, True, work), calls) * ms,
        "sweep plain": per_call(lambda: itemized.sweep(cell, params, fwd, dh_local, False), calls) * ms,
        "param_grads": per_call(lambda: cell.param_grads(params, fwd, inputs, gates), calls) * ms,
        "measure": per_call(lambda: itemized.measure(deltas, fwd.hs[:-1], 0.05, cell.n_gates, work), calls) * ms,
        "  truncation_error": per_call(lambda: itemized.truncation_error(deltas, fwd.hs[:-1], work), calls) * ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--corpus", default="python-c-headers", help="default: the running Python's C headers")
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--seq-len", type=int, default=25)
    args = parser.parse_args()
    H, n = args.hidden, args.seq_len
    calls = 200 if args.quick else 1000
    corpus = load_corpus(args.corpus)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"numpy {np.__version__}, OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}")
    print(f"corpus: {corpus.name}, vocabulary V = {corpus.vocab_size}; H = {H}, n = {n}")

    print("\nOne batch (ms): batch_gradients with itemize=True (all recorded values) vs itemize=False")
    print(f"   {'cell':6}{'plain BPTT':>12}{'itemized':>12}{'ratio':>8}")
    breakdown = {}
    for name in CELLS:
        cell, params, inputs, targets, state0 = setup(name, corpus, H, n)
        work = itemized.Workspace()
        plain = best_of(5, lambda: per_call(
            lambda: batch_gradients(cell, params, inputs, targets, state0, False), calls))
        ours = best_of(5, lambda: per_call(
            lambda: batch_gradients(cell, params, inputs, targets, state0, True, 0.05, work), calls))
        target = "   (target <= 1.5)" if name != "rnn" else ""
        print(f"   {name:6}{plain * 1e3:12.3f}{ours * 1e3:12.3f}{ours / plain:8.2f}{target}")
        breakdown[name] = {
            k: min(v) for k, v in zip(
                parts(cell, params, inputs, targets, state0, work, calls // 4),
                zip(*[parts(cell, params, inputs, targets, state0, work, calls // 4).values() for _ in range(3)]),
            )
        }

    print("\nWhere the time goes (ms per batch; measure includes truncation_error)")
    stages = list(next(iter(breakdown.values())))
    print(f"   {'stage':20}" + "".join(f"{name:>10}" for name in breakdown))
    for stage in stages:
        print(f"   {stage:20}" + "".join(f"{breakdown[name][stage]:10.3f}" for name in breakdown))


if __name__ == "__main__":
    main()
