"""Speed and peak memory of the multislice embedding at the sizes of issue 15, with baselines from the same run.

    python benchmarks/bench_dynamics.py            # about 2 minutes on 2 cores
    python benchmarks/bench_dynamics.py --quick    # the two issue cases only

Each case runs in its own child process, so its peak resident memory (ru_maxrss) is its own:
1. M-PHATE, 20 checkpoints x 256 units x 2,000 probe characters (target < 30 s).
2. MM-PHATE, 20 checkpoints x 25 steps x 100 units x 64 samples = 50,000 points (target < 60 s, < 2 GB).
3. The same two sizes end to end from a session file, as `rnnbow dynamics` runs them: an LSTM's 20
   checkpoints replayed over its corpus's default probe (storage.session_dynamics), then embedded.
Baselines: numpy's dense eigendecomposition of one 5,120 x 5,120 symmetric matrix, the least the
exact (landmark-free) method needs for case 1 (it also needs the matrix powers and an MDS of all
5,120 points); and case 1 with PHATE's default of 2,000 landmarks instead of our 1,000.
The traces are synthetic but structured: units in communities that drift apart over training.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # as the app does (rnnbow_desktop/cli)

import argparse
import json
import platform
import resource
import subprocess
import sys
import time

import numpy as np


def checkpoint_trace(checkpoints: int, units: int, characters: int, seed: int = 0) -> np.ndarray:
    """(checkpoints, units, characters): tanh activations of units in 4 communities that drift apart."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((4, characters))
    community = rng.integers(0, 4, units)
    signature = rng.standard_normal((units, characters))
    drift = 0.05 * rng.standard_normal((units, characters))
    c = np.arange(checkpoints)[:, None, None]
    return np.tanh(0.5 * signature + (c / checkpoints) * centres[community] + c * drift)


def multiway_trace(checkpoints: int, steps: int, units: int, samples: int, seed: int = 0) -> np.ndarray:
    """(checkpoints, steps, units, samples): as above, plus a random walk of each unit over the steps."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((4, samples))
    community = rng.integers(0, 4, units)
    signature = rng.standard_normal((units, samples))
    walk = np.cumsum(0.3 * rng.standard_normal((steps, units, samples)), axis=0)  # (S, n, samples)
    c = np.arange(checkpoints)[:, None, None, None] / checkpoints
    return np.tanh(0.5 * signature + c * centres[community] + walk * (1 - 0.5 * c))


def session_case(multiway: bool) -> dict:
    """Case 3: train an LSTM 20 batches with a checkpoint before each, then replay and embed them as the CLI does."""
    import tempfile
    from pathlib import Path

    from rnnbow_desktop.analysis.hidden_dynamics import embed_dynamics
    from rnnbow_desktop.core.config import TrainConfig
    from rnnbow_desktop.core.corpus import load_corpus
    from rnnbow_desktop.storage.reader import Session
    from rnnbow_desktop.storage.run import TrainingRun
    from rnnbow_desktop.storage.session_dynamics import read_hidden_trace

    config = TrainConfig(cell="lstm", hidden_size=100 if multiway else 256, seq_length=25, record_every=1000,
                         checkpoint_every=1, sample_every=0)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "session.h5"
        with TrainingRun(load_corpus("c-like", min_length=26), config, path) as run:
            for _ in range(20):
                run.step()
        with Session(path) as session:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            start = time.perf_counter()
            trace = read_hidden_trace(session, multiway=multiway)
            replayed = time.perf_counter()
            dynamics = embed_dynamics(trace)
            done = time.perf_counter()
    C, P, _ = dynamics.embedding.shape
    form = (f"{trace.units} units x {trace.steps} steps x {len(trace.starts)} samples" if multiway
            else f"{trace.units} units x {len(trace.ids):,} characters")
    return {"seconds": done - start, "replay_seconds": replayed - start, "points": C * P, "form": form,
            "t": dynamics.t, "rss_before_mb": before / 1024}


def child(case: str) -> None:
    """Run one case in this process and print its figures as one JSON line."""
    from rnnbow_desktop.analysis.multislice import multislice_phate

    if case.startswith("session"):
        figures = session_case(case == "session-multiway")
    elif case == "eigh":
        a = np.random.default_rng(0).standard_normal((5120, 5120))
        a = (a + a.T) / 2
        start = time.perf_counter()
        np.linalg.eigh(a)
        figures = {"seconds": time.perf_counter() - start}
    else:
        trace = multiway_trace(20, 25, 100, 64) if case == "multiway" else checkpoint_trace(20, 256, 2000)
        landmarks = 2000 if case == "checkpoints-2000" else 1000
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        result = multislice_phate(trace, random_state=0, n_landmarks=landmarks)
        figures = {
            "seconds": time.perf_counter() - start,
            "t": result.t,
            "landmarks": result.landmarks,
            "stress": result.stress,
            "rss_before_mb": before / 1024,
        }
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(json.dumps(figures))


def run(case: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", case], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}")
    print(f"BLAS threads: {os.environ['OPENBLAS_NUM_THREADS']}; load average at start {os.getloadavg()[0]:.1f}")

    one = run("checkpoints")
    print("\n1. M-PHATE, 20 x 256 units x 2,000 characters = 5,120 points, 1,000 landmarks")
    print(f"   time {one['seconds']:6.1f} s (target < 30)   peak RSS {one['peak_rss_mb']:6.0f} MB "
          f"({one['rss_before_mb']:.0f} MB with the trace, before embedding)   t = {one['t']}, stress {one['stress']:.3f}")

    two = run("multiway")
    print("\n2. MM-PHATE, 20 x 25 steps x 100 units x 64 samples = 50,000 points, 1,000 landmarks")
    print(f"   time {two['seconds']:6.1f} s (target < 60)   peak RSS {two['peak_rss_mb']:6.0f} MB (target < 2,048) "
          f"({two['rss_before_mb']:.0f} MB with the trace)   t = {two['t']}, stress {two['stress']:.3f}")

    print("\n3. From a session file, as `rnnbow dynamics` runs (replay of 20 LSTM checkpoints, then the embedding)")
    for case, target in (("session-checkpoints", 30), ("session-multiway", 60)):
        found = run(case)
        print(f"   {found['form']:<34} time {found['seconds']:6.1f} s (replay {found['replay_seconds']:4.1f} s; target < {target})"
              f"   peak RSS {found['peak_rss_mb']:6.0f} MB   {found['points']:,} points, t = {found['t']}")

    if args.quick:
        return
    eigh = run("eigh")
    print("\n4. Baselines, same run")
    print(f"   numpy eigh of one dense 5,120 x 5,120 matrix     {eigh['seconds']:6.1f} s, peak RSS {eigh['peak_rss_mb']:5.0f} MB"
          f"   ratio case 1 / eigh {one['seconds'] / eigh['seconds']:5.2f}")
    print("   (the exact method for case 2 would need a dense 50,000^2 operator: 20 GB, not attempted)")
    wide = run("checkpoints-2000")
    print(f"   case 1 with PHATE's 2,000 landmarks                {wide['seconds']:6.1f} s, peak RSS {wide['peak_rss_mb']:5.0f} MB"
          f"   ratio 2,000 / 1,000 {wide['seconds'] / one['seconds']:5.2f}   stress {wide['stress']:.3f}")


if __name__ == "__main__":
    main()
