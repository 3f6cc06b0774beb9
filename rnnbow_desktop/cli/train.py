"""`rnnbow train`: train headless into a session file; Ctrl+C stops between batches with a complete file."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..core.cells import CELLS
from ..core.config import MAX_SEQ_LENGTH
from ..core.errors import RnnbowError
from ..core.loss_smoothing import loss_text, per_character
from .args import PROG, count, fraction, nonnegative_int, positive_float, positive_int, whole_number
from .progress import Progress
from .signals import StopRequests


def add_parser(sub) -> None:
    train = sub.add_parser("train", help="train headless and write a session file")
    train.add_argument("corpus", metavar="CORPUS", help="a text file, a folder, a sample name (c-like, long-range, brackets) or python-c-headers / python-stdlib")
    train.add_argument("--out", required=True, type=Path, metavar="SESSION.h5", help="session file to write")
    train.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    train.add_argument("--cell", default="rnn", choices=tuple(CELLS), help="recurrent cell (default: rnn)")
    train.add_argument("--hidden", type=positive_int, default=100, help="hidden size (default: 100)")
    train.add_argument("--seq-len", type=whole_number(1, MAX_SEQ_LENGTH), default=25,
                       help=f"sequence length n, at most {MAX_SEQ_LENGTH} (default: 25)")
    train.add_argument("--lr", type=positive_float, default=0.1, help="learning rate (default: 0.1)")
    train.add_argument("--batches", type=positive_int, default=None, help="stop after N batches (default: until Ctrl+C)")
    train.add_argument("--record-every", type=positive_int, default=1, help="record every k-th batch (default: 1)")
    train.add_argument("--checkpoint-every", type=nonnegative_int, default=1000, help="checkpoint every k-th batch, 0 for none (default: 1000)")
    train.add_argument("--sample-every", type=nonnegative_int, default=500, help="generate a text sample every k-th batch, 0 for none (default: 500)")
    train.add_argument("--seed", type=nonnegative_int, default=0, help="random seed (default: 0)")
    train.add_argument("--horizon-epsilon", type=fraction, default=0.05, help="truncation error that defines the effective horizon (default: 0.05)")
    train.add_argument("--quiet", action="store_true", help="no progress (a bar on a terminal, a line every 5 s otherwise)")
    train.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..core.config import TrainConfig
    from ..core.corpus import load_corpus
    from ..core.errors import TrainingDiverged
    from ..storage.run import TrainingRun

    config = TrainConfig(
        cell=args.cell, hidden_size=args.hidden, seq_length=args.seq_len, learning_rate=args.lr,
        record_every=args.record_every, checkpoint_every=args.checkpoint_every, seed=args.seed,
        horizon_epsilon=args.horizon_epsilon, sample_every=args.sample_every,
    ).validate()
    out = args.out
    if out.exists() and not args.force:
        raise RnnbowError(f"{out}: already exists (use --force to overwrite it)")
    corpus = load_corpus(args.corpus, min_length=config.seq_length + 1)
    if corpus.skipped:
        print(f"{PROG}: {corpus.name}: {corpus.skipped_summary()}", file=sys.stderr)

    progress = Progress(args.batches, "training", enabled=not args.quiet)
    run = None
    start = time.monotonic()
    interrupted = False
    failure = None
    with StopRequests(ignore_after=True) as stop:
        try:
            run = TrainingRun(corpus, config, out, force=args.force)
            start = time.monotonic()
            progress.restart(args.batches, "training")
            while args.batches is None or run.batch < args.batches:
                if stop.requested:
                    interrupted = True
                    break
                result = run.step()
                rate = run.batch * config.seq_length / max(time.monotonic() - start, 1e-9)
                progress.update(run.batch, f"{rate:,.0f} chars/s  "
                                           f"loss {loss_text(per_character(result.smooth_loss, config.seq_length))}  "
                                           f"records {run.records:,}")
        except TrainingDiverged as exc:
            failure = exc
        finally:
            progress.close()
            if run is not None:
                run.close()  # saves what is pending; does nothing after a write error
    if failure is not None:
        raise RnnbowError(
            f"{failure}; {out} keeps the {count(run.batch, 'batch', 'batches')} before it ({count(run.records, 'record')}). "
            "Try a smaller learning rate (--lr)."
        )
    elapsed = time.monotonic() - start
    how = "stopped" if interrupted else "done"
    loss = per_character(run.last.smooth_loss, config.seq_length) if run.last else float("nan")
    print(f"{how}: {run.batch:,} batches in {elapsed:.1f} s, {run.records:,} records, "
          f"loss {loss_text(loss)} -> {out}")
    return 0
