"""The one-command comparison demo: train rnn, lstm and gru on the long-range sample, measure them, show them.

`python -m rnnbow_desktop.compare_demo` trains the three cells with the same seed and settings on the
bundled long-range-dependency corpus (lines such as `20:C...b..C`, where the marker after the colon
must be repeated exactly d = 5, 10, 20 or 40 characters later), prints what it measured, and opens
the "Compare sessions" window (or, with --render, writes its picture). Training and measuring
import no Qt.
"""

from __future__ import annotations

import os

# Small matrices: BLAS threads cost more than they gain (see cli.py). Set before numpy loads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from .core.corpus import load_corpus  # noqa: E402
from .core.samples import LONG_RANGE_DISTANCES  # noqa: E402
from .core.training import TrainConfig  # noqa: E402
from .errors import RnnbowError  # noqa: E402
from .storage.compare import horizon_profile  # noqa: E402
from .storage.session import Session  # noqa: E402
from .training_run import TrainingRun  # noqa: E402

PROG = "python -m rnnbow_desktop.compare_demo"
SAMPLE = "long-range"
CELLS = ("rnn", "lstm", "gru")
# Two passes over the 400,000-character corpus at n = 50: about 2½ minutes on one core (rnn ~1.5 ms,
# gru ~4 ms, lstm ~5 ms per batch), long enough for the LSTM to learn the long lines.
DEFAULT_BATCHES = 16_000
DEFAULT_HIDDEN = 100
# 50 steps per batch, so the gradient of a d = 40 dependency can lie within one batch.
SEQ_LENGTH = 50
# A record is 10–60 kB at n = 50 (lstm: four gates); every 40th batch keeps each file under 25 MB
# and still gives 400 points of horizon over training.
RECORD_EVERY = 40
SEED = 0
LAST_FRACTION = 0.2  # the "end of training" the numbers describe
PROFILE_DISTANCES = (5, 10, 20)

ProgressCallback = Callable[[str, int, int, float], None]  # (cell, batches done, batches in all, smooth loss)


def demo_config(cell: str, hidden: int = DEFAULT_HIDDEN, seq_length: int = SEQ_LENGTH,
                record_every: int = RECORD_EVERY) -> TrainConfig:
    """The settings every cell of the demo is trained with; only the cell differs."""
    return TrainConfig(cell=cell, hidden_size=hidden, seq_length=seq_length, record_every=record_every,
                       checkpoint_every=0, sample_every=0, seed=SEED).validate()


def demo_paths(out_dir) -> list[Path]:
    """long-range-rnn.h5, long-range-lstm.h5, long-range-gru.h5 in `out_dir`."""
    return [Path(out_dir) / f"{SAMPLE}-{cell}.h5" for cell in CELLS]


def _check_out_dir(out_dir, force: bool, reuse: bool) -> list[Path]:
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise RnnbowError(f"{out_dir}: folder does not exist")
    paths = demo_paths(out_dir)
    existing = [p for p in paths if p.exists()]
    if existing and not (force or reuse):
        raise RnnbowError(
            f"{existing[0]} already exists (use --force to train again, or --reuse to compare the existing files)"
        )
    return paths


def train_demo(out_dir, batches: int = DEFAULT_BATCHES, hidden: int = DEFAULT_HIDDEN, seq_length: int = SEQ_LENGTH,
               record_every: int = RECORD_EVERY, force: bool = False, reuse: bool = False,
               progress: ProgressCallback | None = None) -> list[Path]:
    """Train rnn, lstm and gru on the long-range sample into `out_dir`; return the three session paths.

    Existing files are refused before anything is trained unless `force` (overwrite them) or `reuse`
    (keep them and train only the missing ones).
    """
    paths = _check_out_dir(out_dir, force, reuse)
    configs = [demo_config(cell, hidden, seq_length, record_every) for cell in CELLS]  # validates all first
    corpus = None
    for config, path in zip(configs, paths):
        if reuse and path.exists():
            continue
        if corpus is None:
            corpus = load_corpus(SAMPLE, min_length=seq_length + 1)
        with TrainingRun(corpus, config, path, force=force) as run:
            for _ in range(batches):
                result = run.step()
                if progress is not None and (run.batch % 100 == 0 or run.batch == batches):
                    progress(config.cell, run.batch, batches, result.smooth_loss)
    return paths


# -- what the demo measures ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class CellMeasures:
    """The numbers the demo prints for one session; 'end' is the last 20% of its batches."""

    path: Path
    cell: str
    batches: int
    seq_length: int
    smooth_loss: float  # the trainer's running loss (summed over a batch of seq_length characters)
    median_horizon: float  # median effective horizon of the records at the end
    profile_typical: dict  # distance -> relative gradient magnitude of the median batch at the end
    profile_pooled: dict  # distance -> the same, pooled over all batches at the end (mean over everything)
    recall: dict  # d -> fraction of closing markers predicted right at the end (None: none seen)
    end_batches: tuple  # (first, last) batch of the records measured
    records: int  # how many records that is

    @property
    def loss_per_char(self) -> float:
        return self.smooth_loss / self.seq_length


def smooth_loss(session: Session) -> float:
    """The trainer's running loss after the last batch, recomputed from the per-batch losses in the file."""
    cfg = session.info.config
    losses = np.asarray(session.training_loss(), dtype=np.float64)  # (batches,) summed over n steps
    start = -math.log(1.0 / len(session.info.vocab)) * cfg.seq_length
    decay = 0.999 ** np.arange(len(losses) - 1, -1, -1)  # weight of batch b after the last one
    return float(start * 0.999 ** len(losses) + 0.001 * decay @ losses)


def closing_markers(text: str) -> np.ndarray:
    """Per corpus position: d if the character there is the closing marker of a `DD:M…M` line, else 0."""
    closing = np.zeros(len(text), dtype=np.int32)
    position = 0
    for line in text.split("\n"):
        if len(line) > 3 and line[2] == ":" and line[:2].isdigit():
            d = int(line[:2])
            if 3 + d < len(line):
                closing[position + 3 + d] = d
        position += len(line) + 1
    return closing


def recall_accuracy(session: Session, first_batch: int) -> dict:
    """Per distance d: the share of recorded closing markers (from `first_batch` on) the network predicted."""
    closing = closing_markers(session.corpus().text)
    batches = session.batches()
    right = dict.fromkeys(LONG_RANGE_DISTANCES, 0)
    seen = dict.fromkeys(LONG_RANGE_DISTANCES, 0)
    for index in np.flatnonzero(batches >= first_batch):
        record = session.record(int(index))
        targets_at = record.position + 1 + np.arange(len(record.targets))  # corpus position of each target
        distance = closing[np.minimum(targets_at, len(closing) - 1)]
        hit = record.predictions == record.targets
        for d in LONG_RANGE_DISTANCES:
            mask = distance == d
            seen[d] += int(mask.sum())
            right[d] += int(hit[mask].sum())
    return {d: (right[d] / seen[d] if seen[d] else None) for d in LONG_RANGE_DISTANCES}


def measure(path) -> CellMeasures:
    """Loss, effective horizon, horizon profile and recall at the end of training of one demo session."""
    with Session(path) as session:
        cfg = session.info.config
        batches = session.batches()
        if not len(batches):
            raise RnnbowError(f"{path}: no batch was recorded in this session")
        trained = session.batches_trained
        first = int((1 - LAST_FRACTION) * trained)
        end = batches >= first
        if not end.any():  # fewer records than the last 20% can hold: use the last one
            end[-1] = True
            first = int(batches[-1])
        typical = horizon_profile(session, first_batch=first, statistic="median")
        pooled = horizon_profile(session, first_batch=first, statistic="mean")
        horizons = session.column("horizon")[end]
        return CellMeasures(
            path=Path(path), cell=cfg.cell, batches=trained, seq_length=cfg.seq_length,
            smooth_loss=smooth_loss(session), median_horizon=float(np.median(horizons)),
            profile_typical={d: float(typical.relative[d]) for d in PROFILE_DISTANCES if d < cfg.seq_length},
            profile_pooled={d: float(pooled.relative[d]) for d in PROFILE_DISTANCES if d < cfg.seq_length},
            recall=recall_accuracy(session, first), end_batches=typical.batch_range,
            records=typical.records_used,
        )


def _number(value: float) -> str:
    return f"{value:.2g}" if value < 0.095 else f"{value:.2f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
    return ["  " + "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
            for row in [header] + rows]


def format_table(measures: list[CellMeasures]) -> str:
    """The demo's result as plain-text tables (also what the README quotes)."""
    first = measures[0]
    lo, hi = first.end_batches
    lines = [
        f"Measured over the last {LAST_FRACTION:.0%} of training (recorded batches {lo:,}–{hi:,}, "
        f"{first.records:,} records per cell):",
        "  loss: running loss per character;  horizon: median effective horizon in steps (e(k) ≤ 0.05);",
        "  recall d: closing markers predicted right, in lines whose markers are d apart.",
        "",
    ]
    lines += _table(
        ["cell", "loss", "horizon"] + [f"recall {d}" for d in LONG_RANGE_DISTANCES],
        [[m.cell, f"{m.loss_per_char:.3f}", f"{m.median_horizon:g}"]
         + [("–" if m.recall[d] is None else f"{m.recall[d]:.0%}") for d in LONG_RANGE_DISTANCES] for m in measures],
    )
    distances = [d for d in PROFILE_DISTANCES if all(d in m.profile_typical for m in measures)]
    lines += [
        "",
        "Horizon profile: gradient reaching d steps back, relative to the local loss's own part;",
        "  typical: the median batch's profile;  all: pooled over all batches (rare exploding batches weigh most).",
        "",
    ]
    lines += _table(
        ["cell"] + [f"typical {d}" for d in distances] + [f"all {d}" for d in distances],
        [[m.cell] + [_number(m.profile_typical[d]) for d in distances] + [_number(m.profile_pooled[d]) for d in distances]
         for m in measures],
    )
    return "\n".join(lines)


def showcase(path, distance: int = 20) -> tuple[int, int] | None:
    """(batch, loss step t) of the last record at the end of training whose step t must recall a marker
    `distance` characters back, with the opening marker inside the same batch; None if there is none."""
    with Session(path) as session:
        closing = closing_markers(session.corpus().text)
        batches = session.batches()
        first = int((1 - LAST_FRACTION) * session.batches_trained)
        for index in np.flatnonzero(batches >= first)[::-1]:
            record = session.record(int(index))
            steps = np.arange(len(record.targets))
            at = closing[np.minimum(record.position + 1 + steps, len(closing) - 1)]
            # The opening marker is the input at step t + 1 − d: inside the batch when t ≥ d − 1.
            fits = np.flatnonzero((at == distance) & (steps >= distance - 1))
            if len(fits):
                return int(batches[index]), int(fits[-1])
    return None


# -- the command --------------------------------------------------------------------------------------------

def open_comparison(paths, profile_over: str = "last", profile_statistic: str = "median",
                    batch: int | None = None) -> int:
    """Show the "Compare sessions" window for `paths` (aligned on `batch`, if given) and run until it is closed."""
    from .gui.app import _application, has_display

    if not has_display():
        print(f"{PROG}: no display found; use --render FILE.png to draw the comparison instead", file=sys.stderr)
        return 1
    app = _application()
    from .gui.compare_window import CompareWindow

    window = CompareWindow(paths, profile_over=profile_over, profile_statistic=profile_statistic)
    if batch is not None and window.link is not None:
        window.link.select_batch(batch, user=False)
    window.show()
    return app.exec()


def _default_out_dir() -> Path:
    from .storage.paths import sessions_dir

    return sessions_dir() / "compare-demo"


def build_parser() -> argparse.ArgumentParser:
    from .cli import _Parser, _positive_int

    parser = _Parser(
        prog=PROG,
        description="Train rnn, lstm and gru on the bundled long-range corpus with the same settings, print "
                    "what each learned, and open the comparison window.",
    )
    parser.add_argument("--batches", type=_positive_int, default=DEFAULT_BATCHES,
                        help=f"batches per cell (default: {DEFAULT_BATCHES:,})")
    parser.add_argument("--hidden", type=_positive_int, default=DEFAULT_HIDDEN, help=f"hidden size (default: {DEFAULT_HIDDEN})")
    parser.add_argument("--out-dir", type=Path, default=None, metavar="DIR",
                        help="folder for the three session files (default: compare-demo in the sessions folder)")
    parser.add_argument("--force", action="store_true", help="overwrite existing session files (and the --render image)")
    parser.add_argument("--reuse", action="store_true", help="compare the session files already in --out-dir; train only missing ones")
    parser.add_argument("--no-window", action="store_true", help="only train and print the numbers")
    parser.add_argument("--render", type=Path, default=None, metavar="FILE.png",
                        help="write the comparison to a PNG or SVG file instead of opening the window")
    return parser


def _progress_line(started: dict) -> ProgressCallback:
    def report(cell: str, done: int, total: int, loss: float) -> None:
        now = time.monotonic()
        begun = started.setdefault(cell, now)
        eta = (total - done) * (now - begun) / max(done, 1)
        sys.stderr.write(f"\r  {cell:<5} batch {done:>7,} / {total:,}   loss {loss:7.2f}   {eta:4.0f} s left ".ljust(72))
        if done == total:
            sys.stderr.write(f"\r  {cell:<5} {total:,} batches in {now - begun:.0f} s".ljust(72) + "\n")
        sys.stderr.flush()

    return report


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        out_dir = args.out_dir if args.out_dir is not None else _default_out_dir()
        if args.out_dir is None:
            out_dir.mkdir(parents=True, exist_ok=True)
        if args.render is not None:
            from .gui.render import _check_out

            _check_out(args.render, args.force)  # before minutes of training, not after
        missing = [p for p in _check_out_dir(out_dir, args.force, args.reuse) if not p.exists()]
        if not args.reuse or missing:
            print(f"Training {', '.join(CELLS)} on the '{SAMPLE}' sample: {args.batches:,} batches each, hidden "
                  f"{args.hidden}, sequence length {SEQ_LENGTH}, seed {SEED}, a record every {RECORD_EVERY} batches",
                  file=sys.stderr)
        started = time.monotonic()
        paths = train_demo(out_dir, batches=args.batches, hidden=args.hidden, force=args.force, reuse=args.reuse,
                           progress=_progress_line({}))
        if not args.reuse or missing:
            print(f"trained in {time.monotonic() - started:.0f} s -> {out_dir}", file=sys.stderr)
        print(format_table([measure(p) for p in paths]))
        if args.no_window and args.render is None:
            return 0
        # Shown on a batch where a marker 20 characters back must be recalled, that loss hovered.
        batch, step = showcase(paths[0]) or (None, None)
        if args.render is not None:
            from .gui.compare_render import render_comparison

            out = render_comparison(paths, args.render, force=args.force, profile_over="last",
                                    profile_statistic="median", batch=batch, hover_step=step)
            where = f" (batch {batch:,}, loss t = {step} hovered)" if batch is not None else ""
            print(f"wrote {out}{where}")
            return 0
        return open_comparison(paths, batch=batch)
    except RnnbowError as exc:
        sys.stderr.write(f"{PROG}: {' '.join(str(exc).split())}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
