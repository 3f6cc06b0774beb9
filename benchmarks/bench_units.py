"""What issue 14's unit analyses cost, with baselines measured in the same run.

    python benchmarks/bench_units.py           # about a minute on 2 cores
    python benchmarks/bench_units.py --quick   # fewer repeats, no H = 512 LSTM/GRU

1. Replay and finder over a 2,000-character probe (the default probe of the bundled C-like corpus) at
   H = 100 and H = 512, for rnn, lstm and gru. Replay = states, every gate, probabilities and losses
   (analysis.replay); finder = text features, r of every unit of every state with every feature, the
   ranking and gate saturation (analysis.unit_report without the n-gram). Baseline: the cell's own plain
   forward pass over the same characters (hidden states only), the least any replay must do.
2. The n-gram baseline: counting orders 1–9 on the corpus minus the probe, and scoring the probe.
3. `OpenSession.unit_gradients` in the middle of a 1,000-batch LSTM run (H = 100, checkpoints every 500):
   resumed from the checkpoint (with Adagrad's memory) against re-trained from batch 0 (a file from before
   the memory was saved). Baseline: one training batch with itemized gradients, as the trainer records it.
4. The Units view's text: redraw of a 10,000-character probe coloured by a unit (offscreen), the recolour
   when another unit is chosen, and the layout; baseline: redrawing the same view with no text.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # as the app does (rnnbow_desktop/cli)
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


# On a shared machine wall time includes the time other processes held the core; the CPU time of this
# single-threaded work (OpenBLAS with one thread) does not, so sections 1 and 2 report CPU time, which is
# what the wall time is on an idle core. `--wall` reports wall time instead.
CLOCK = time.process_time


def timed(function, repeats: int) -> float:
    """Median time of `function()` in seconds, by CLOCK."""
    times = []
    for _ in range(repeats):
        start = CLOCK()
        function()
        times.append(CLOCK() - start)
    return statistics.median(times)


def replay_and_finder(repeats: int, quick: bool) -> None:
    from rnnbow_desktop.analysis.probe import default_probe
    from rnnbow_desktop.analysis.replay import encode, replay
    from rnnbow_desktop.analysis.unit_report import unit_report
    from rnnbow_desktop.core.cells import make_cell
    from rnnbow_desktop.core.corpus import load_corpus

    corpus = load_corpus("c-like")
    probe = default_probe(corpus.text)
    ids = encode(probe, corpus.vocab)
    clock = "CPU" if CLOCK is time.process_time else "wall"
    print(f"1. replay + finder over {len(probe):,} characters of c-like (V = {corpus.vocab_size}), median {clock} time of {repeats}")
    print(f"   {'cell':<5} {'H':>4}  {'forward':>9}  {'replay':>9}  {'ratio':>6}  {'finder':>9}  {'replay+finder':>13}")
    for H in (100, 512):
        for name in ("rnn", "lstm", "gru"):
            if quick and H == 512 and name != "rnn":
                continue
            cell = make_cell(name)
            params = cell.init_params(np.random.default_rng(0), H, corpus.vocab_size)
            # Trained weights are larger than the initial randn × 0.01; scale them so the gates vary.
            params = {k: v * (30.0 if k.startswith("weight") else 1.0) for k, v in params.items()}
            forward = timed(lambda: cell.forward(params, ids, cell.zero_state(H)), repeats)
            replayed = replay(name, params, None, ids)
            replay_time = timed(lambda: replay(name, params, None, ids), repeats)
            finder = timed(lambda: unit_report(replayed, probe, 0), repeats)
            print(f"   {name:<5} {H:>4}  {forward * 1e3:7.1f} ms  {replay_time * 1e3:7.1f} ms  {replay_time / forward:6.2f}"
                  f"  {finder * 1e3:7.1f} ms  {(replay_time + finder) * 1e3:11.1f} ms")


def ngram_cost(repeats: int) -> None:
    from rnnbow_desktop.analysis.ngram import train_ngram
    from rnnbow_desktop.analysis.probe import default_probe
    from rnnbow_desktop.analysis.replay import encode
    from rnnbow_desktop.analysis.unit_report import ngram_corpus
    from rnnbow_desktop.core.corpus import load_corpus

    corpus = load_corpus("c-like")
    probe = default_probe(corpus.text)
    text, _ = ngram_corpus(corpus.text, probe)
    ids = encode(text, corpus.vocab)
    count = timed(lambda: train_ngram(ids, corpus.vocab_size, 9), max(1, repeats // 2))
    model = train_ngram(ids, corpus.vocab_size, 9)
    probe_ids = encode(probe, corpus.vocab)
    score = timed(lambda: model.loss(probe_ids), repeats)
    print(f"2. 9-gram: counted on {len(text):,} characters in {count:.2f} s; the probe scored in {score * 1e3:.1f} ms")


def unit_gradients_cost() -> None:
    import h5py

    import rnnbow_desktop as rb
    from rnnbow_desktop.core.config import TrainConfig
    from rnnbow_desktop.core.corpus import load_corpus
    from rnnbow_desktop.core.training import Trainer
    from rnnbow_desktop.storage.schema import OPTIONAL_CHECKPOINT_FIELDS

    settings = dict(cell="lstm", hidden_size=100, seq_length=25, record_every=10, checkpoint_every=500, sample_every=0)
    corpus = load_corpus("c-like")
    trainer = Trainer(corpus, TrainConfig(**{**settings, "record_every": 1}))
    for _ in range(20):
        trainer.step()
    step = timed(trainer.step, 50)  # the trainer's own batch with itemized gradients (every batch recorded), by CLOCK
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "lstm.h5"
        rb.train(corpus, path, batches=1000, **settings)
        old = Path(folder) / "old.h5"
        old.write_bytes(path.read_bytes())
        with h5py.File(old, "r+") as f:
            for name in OPTIONAL_CHECKPOINT_FIELDS:
                del f[f"checkpoints/{name}"]
        took = {}
        for label, file in (("from the checkpoint at 500", path), ("from batch 0 (no memory saved)", old)):
            with rb.open_session(file) as s:
                start = CLOCK()
                found = s.unit_gradients(990)
                took[label] = (found, CLOCK() - start)
    (resumed, _), (retrained, _) = took.values()
    assert np.array_equal(resumed.values, retrained.values)
    print(f"3. unit_gradients(990) of an LSTM, H = 100, n = 25 (one itemized training batch: {step * 1e3:.2f} ms):")
    for label, (found, spent) in took.items():
        print(f"   {label:<31} {found.batches_retrained:>4} batches re-trained in {spent:5.2f} s "
              f"({spent / found.batches_retrained * 1e3:.2f} ms per batch, {spent / step:4.0f} × one itemized batch; "
              f"wall {found.seconds:.2f} s); record deviation {found.record_deviation:.1e}")
    ratio = took["from batch 0 (no memory saved)"][1] / took["from the checkpoint at 500"][1]
    print(f"   identical values both ways: True; resuming from the checkpoint took 1/{ratio:.1f} of the time")


def redraw_cost(repeats: int) -> None:
    from PySide6.QtWidgets import QApplication

    from rnnbow_desktop.core.corpus import load_corpus
    from rnnbow_desktop.gui.units.colours import state_scale
    from rnnbow_desktop.gui.units.text_view import UnitTextView

    app = QApplication.instance() or QApplication([])
    text = load_corpus("c-like").text[:10_000]
    rng = np.random.default_rng(0)
    view = UnitTextView()
    view.resize(900, 700)
    view.show()
    app.processEvents()

    def repaint_all() -> None:
        bar = view.verticalScrollBar()
        for value in np.linspace(0, bar.maximum(), 10).astype(int):
            bar.setValue(int(value))
            view.viewport().repaint()

    empty = timed(repaint_all, repeats) / 10
    layout = timed(lambda: view.set_text(text), repeats)
    values = np.tanh(rng.standard_normal((len(text), 8)))
    scale = state_scale("h")
    recolour = timed(lambda: view.set_colours(scale.rgba(values[:, rng.integers(8)])), repeats)
    frames = []
    for _ in range(repeats):
        start = time.perf_counter()
        repaint_all()
        frames.append((time.perf_counter() - start) / 10)
    rows = view.layout_.n_rows
    print(f"4. Units view text, 10,000 characters ({rows} rows of {view.layout_.columns} at 900 × 700), offscreen:")
    print(f"   redraw {statistics.median(frames) * 1e3:.1f} ms median, {max(frames) * 1e3:.1f} ms worst "
          f"(the same view without text: {empty * 1e3:.1f} ms); recolour for another unit {recolour * 1e3:.1f} ms; "
          f"layout {layout * 1e3:.1f} ms")
    view.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--wall", action="store_true", help="report wall time instead of CPU time in sections 1, 2 and 4")
    args = parser.parse_args()
    global CLOCK
    if args.wall:
        CLOCK = time.perf_counter
    repeats = 3 if args.quick else 5
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"numpy {np.__version__}, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}")
    replay_and_finder(repeats, args.quick)
    ngram_cost(repeats)
    unit_gradients_cost()
    redraw_cost(repeats)


if __name__ == "__main__":
    main()
