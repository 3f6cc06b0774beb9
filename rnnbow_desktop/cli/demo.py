"""`rnnbow demo`: train rnn, lstm and gru on the long-range sample, measure them, show them.

`rnnbow demo` trains the three cells with the same seed
and settings on the bundled long-range-dependency corpus (lines such as `20:C...b..C`, where the marker
after the colon must be repeated exactly d = 5, 10, 20 or 40 characters later), prints what it measured,
draws the comparison to a picture and opens the "Compare sessions" window. Training and measuring
import no Qt.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..analysis.compare import horizon_profile
from ..analysis.smoothing import session_smooth_loss
from ..analysis.training_phase import LATE_FRACTION, late_training_start
from ..core.config import TrainConfig
from ..core.corpus import load_corpus
from ..core.environment import has_display
from ..core.errors import RnnbowError
from ..core.loss_smoothing import LOSS_UNIT, loss_text, per_character
from ..core.samples import LONG_RANGE_DISTANCES
from ..storage.paths import check_image_path, sessions_dir
from ..storage.reader import Session
from ..storage.run import TrainingRun
from .args import PROG, count, positive_int
from .progress import Progress
from .signals import StopRequests

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
# 20 checkpoints over any run (the default: before batches 0, 800, …, 15,200), so the dynamics of the hidden
# units (issue 15: `rnnbow dynamics`, the Dynamics view, (c) of the comparison) can be drawn; ~0.3 MB each for
# the lstm at hidden 100.
CHECKPOINTS = 20
CHECKPOINT_EVERY = DEFAULT_BATCHES // CHECKPOINTS
SEED = 0
PROFILE_DISTANCES = (5, 10, 20)

ProgressCallback = Callable[[str, int, int, float], None]  # (cell, batches done, batches in all, smooth loss)


def demo_config(cell: str, hidden: int = DEFAULT_HIDDEN, seq_length: int = SEQ_LENGTH,
                record_every: int = RECORD_EVERY, checkpoint_every: int = CHECKPOINT_EVERY) -> TrainConfig:
    """The settings every cell of the demo is trained with; only the cell differs."""
    return TrainConfig(cell=cell, hidden_size=hidden, seq_length=seq_length, record_every=record_every,
                       checkpoint_every=checkpoint_every, sample_every=0, seed=SEED).validate()


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
               progress: ProgressCallback | None = None, checkpoint_every: int | None = None) -> list[Path]:
    """Train rnn, lstm and gru on the long-range sample into `out_dir`; return the three session paths.

    Existing files are refused before anything is trained unless `force` (overwrite them) or `reuse`
    (keep them and train only the missing ones). `checkpoint_every` defaults to a twentieth of `batches`.
    """
    paths = _check_out_dir(out_dir, force, reuse)
    checkpoint_every = max(1, batches // CHECKPOINTS) if checkpoint_every is None else checkpoint_every
    configs = [demo_config(cell, hidden, seq_length, record_every, checkpoint_every) for cell in CELLS]  # validates all first
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
        return per_character(self.smooth_loss, self.seq_length)


def smooth_loss(session: Session) -> float:
    """The trainer's running loss after the last batch, recomputed from the per-batch losses in the file."""
    return session_smooth_loss(len(session.info.vocab), session.info.config.seq_length, session.training_loss())


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
        first = late_training_start(trained)
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
        f"Measured over the last {LATE_FRACTION:.0%} of training (recorded batches {lo:,}–{hi:,}, "
        f"{count(first.records, 'record')} per cell):",
        f"  loss: running loss per character ({LOSS_UNIT});  horizon: median effective horizon in steps (e(k) ≤ 0.05);",
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
        first = late_training_start(session.batches_trained)
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

PICTURE_NAME = f"{SAMPLE}-compare.png"  # written next to the sessions unless --render names another file


def default_out_dir() -> Path:
    """compare-demo in the per-user sessions folder (the folder the window's sessions go to)."""
    return sessions_dir() / "compare-demo"


def add_parser(sub) -> None:
    demo = sub.add_parser(
        "demo", help="train rnn, lstm and gru on the long-range sample and compare them (a few minutes)",
        description="The comparison demo: train rnn, lstm and gru with the same settings on the bundled "
                    "long-range-dependency corpus, print what each learned (loss, effective horizon, horizon "
                    f"profile, recall), draw the comparison to DIR/{PICTURE_NAME} and open it in a window.",
    )
    add_arguments(demo)
    demo.set_defaults(run=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's options."""
    parser.add_argument("--batches", type=positive_int, default=DEFAULT_BATCHES,
                        help=f"batches per cell (default: {DEFAULT_BATCHES:,}, a few minutes in all)")
    parser.add_argument("--hidden", type=positive_int, default=DEFAULT_HIDDEN, help=f"hidden size (default: {DEFAULT_HIDDEN})")
    parser.add_argument("--out-dir", type=Path, default=None, metavar="DIR",
                        help="folder for the three session files and the picture, created if missing "
                             "(default: compare-demo in the per-user sessions folder)")
    parser.add_argument("--force", action="store_true",
                        help="train again, replacing the session files already in DIR; also replace an existing --render file")
    parser.add_argument("--reuse", action="store_true",
                        help="compare the session files already in DIR; train only the missing ones")
    parser.add_argument("--no-window", action="store_true", help="do not open the window: train, print the numbers, write the picture")
    parser.add_argument("--render", type=Path, default=None, metavar="FILE.png|FILE.svg",
                        help=f"where to write the picture of the comparison (default: DIR/{PICTURE_NAME}, replaced on each run)")


def _progress_line(live: bool) -> ProgressCallback:
    """Progress on stderr: a line rewritten in place on a terminal, one line per cell elsewhere (logs)."""
    since = {"time": time.monotonic()}  # when the current cell began: the previous one finished
    started: dict[str, float] = {}

    def report(cell: str, done: int, total: int, loss: float) -> None:
        now = time.monotonic()
        begun = started.setdefault(cell, since["time"])
        if live:
            eta = (total - done) * (now - begun) / max(done, 1)
            loss_now = loss_text(per_character(loss, SEQ_LENGTH))
            sys.stderr.write(f"\r  {cell:<5} batch {done:>7,} / {total:,}   loss {loss_now}   {eta:4.0f} s left ".ljust(72))
        if done == total:
            since["time"] = now
            line = f"  {cell:<5} {total:,} batches in {now - begun:.1f} s, loss {loss_text(per_character(loss, SEQ_LENGTH))}"
            sys.stderr.write(("\r" + line.ljust(72) if live else line) + "\n")
        sys.stderr.flush()

    return report


def _shell_word(path: Path) -> str:
    """`path` as it can be pasted into this system's shell (the default folder has a space on macOS)."""
    if os.name == "nt":
        return f'"{path}"' if " " in str(path) else str(path)
    import shlex

    return shlex.quote(str(path))


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class _StopRequested(Exception):
    """Ctrl+C (or a kill) arrived; raised between batches, never in the middle of writing one."""


def _train_until_stopped(out_dir: Path, args, report: ProgressCallback) -> list[Path]:
    """train_demo, with Ctrl+C turned into a clean stop: a KeyboardInterrupt in the middle of writing
    a block could leave the session half-written (see cli/signals.py), so the signal only sets a flag
    that the progress callback checks between batches (at most 100 batches later)."""
    stop_cell = {"cell": None}
    with StopRequests() as stop:

        def progress(cell: str, done: int, total: int, loss: float) -> None:
            stop_cell["cell"] = cell
            report(cell, done, total, loss)
            if stop.requested:
                raise _StopRequested

        try:
            return train_demo(out_dir, batches=args.batches, hidden=args.hidden, force=args.force, reuse=args.reuse,
                              progress=progress)
        except _StopRequested:
            if sys.stderr.isatty():
                sys.stderr.write("\n")  # end the progress line
            partial = Path(out_dir) / f"{SAMPLE}-{stop_cell['cell']}.h5"
            raise RnnbowError(
                f"stopped: {partial} keeps the batches trained so far (a complete but shorter session); run the demo "
                "again with --force to train all three from the start"
            ) from None


def run(args: argparse.Namespace, prog: str = PROG) -> int:
    """The demo for parsed `args` (see add_arguments); raises RnnbowError for anything the user must fix.

    What it is doing goes to stderr as it happens; the measured numbers go to stdout.
    """
    window = not args.no_window
    if window and not has_display():
        window = False
        _say(f"{prog}: no display found: not opening the window (the picture and the numbers show the comparison)")
    out_dir = args.out_dir if args.out_dir is not None else default_out_dir()
    if not out_dir.is_dir():
        if not out_dir.parent.is_dir():
            raise RnnbowError(f"{out_dir}: cannot create the folder: {out_dir.parent} does not exist")
        try:
            out_dir.mkdir(exist_ok=True)
        except OSError as exc:
            raise RnnbowError(f"{out_dir}: cannot create the folder ({exc.strerror or exc})") from None
    # An explicit picture file is refused before minutes of training, not after; the default one is
    # the demo's own output and is replaced.
    picture = check_image_path(args.render, overwrite=args.force) if args.render is not None else out_dir / PICTURE_NAME
    paths = _check_out_dir(out_dir, args.force, args.reuse)
    to_train = [p for p in paths if not (args.reuse and p.exists())]
    started = time.monotonic()
    if to_train:
        names = ", ".join(p.name for p in to_train)
        _say(f"Training {names} on the '{SAMPLE}' sample in {out_dir}")
        _say(f"  same settings for each: {args.batches:,} batches, hidden {args.hidden}, sequence length {SEQ_LENGTH}, "
             f"seed {SEED}, a record every {RECORD_EVERY} batches, a checkpoint every "
             f"{max(1, args.batches // CHECKPOINTS):,}")
        paths = _train_until_stopped(out_dir, args, _progress_line(sys.stderr.isatty()))
        _say(f"trained in {time.monotonic() - started:.0f} s")
    else:
        _say(f"Comparing the sessions already in {out_dir} (--reuse): {', '.join(p.name for p in paths)}")
    _say("Measuring horizons, horizon profiles and recall over the end of training…")
    table = format_table([measure(p) for p in paths])

    # Drawn (and shown) on a batch where a marker 20 characters back must be recalled, that loss hovered.
    batch, step = showcase(paths[0]) or (None, None)
    if window:
        from ..gui.app import application

        application()  # the window's application, before the picture makes a plain one
    from ..gui.compare.render import render_comparison

    _say(f"Drawing the comparison to {picture}…")
    bar = Progress(1000, "  hidden-unit dynamics")  # (c): each session's checkpoints embedded first
    render_comparison(paths, picture, force=True, profile_over="last", profile_statistic="median",
                      batch=batch, hover_step=step, progress=lambda f, text: bar.update(int(f * 1000), text))
    bar.close()
    where = f" (batch {batch:,}, loss t = {step} hovered in view 3)" if batch is not None else ""
    print(f"wrote {picture}{where}")
    print(f"sessions: {', '.join(str(p) for p in paths)}")
    print(f"compare them again: rnnbow compare {' '.join(_shell_word(p) for p in paths)}")
    print()
    print(table, flush=True)  # last, so the numbers are what the terminal shows when it is done
    if not window:
        return 0
    _say("Opening the comparison window (close it to finish)…")
    from ..gui.compare.window import run_compare_window

    return run_compare_window(paths, profile_over="last", profile_statistic="median", batch=batch, hover_step=step)
