"""The `rnnbow` command: train headless, summarize a session, render figures, compare sessions, run the demo, or open the window."""

from __future__ import annotations

import os

# The per-batch matrices are small (25 × 100); OpenBLAS threads cost more than they gain there
# (measured: a 25 × 2500 product took 2.3× longer with two threads than with one) and would
# compete with the GUI thread for the second core. Users can still override it.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from . import __version__  # noqa: E402
from .core.errors import RnnbowError  # noqa: E402

PROG = "rnnbow"


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line, without the usage block."""

    def error(self, message):
        sys.stderr.write(f"{self.prog}: {message} (see {self.prog} --help)\n")
        sys.exit(2)


def _whole_number(minimum: int):
    """An argparse type accepting whole numbers >= minimum, with a one-line message otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
        if value < minimum:
            bound = "greater than 0" if minimum == 1 else f"{minimum} or more"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value

    return parse


_positive_int = _whole_number(1)
_nonnegative_int = _whole_number(0)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def _fraction(text: str) -> float:
    value = _positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="RNNbow Desktop: watch the itemized gradients of a recurrent network while it learns.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    train = sub.add_parser("train", help="train headless and write a session file")
    train.add_argument("corpus", metavar="CORPUS", help="a text file, a folder, a sample name (c-like, long-range, brackets) or python-c-headers / python-stdlib")
    train.add_argument("--out", required=True, type=Path, metavar="SESSION.h5", help="session file to write")
    train.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    train.add_argument("--cell", default="rnn", help="recurrent cell (default: rnn)")
    train.add_argument("--hidden", type=_positive_int, default=100, help="hidden size (default: 100)")
    train.add_argument("--seq-len", type=_positive_int, default=25, help="sequence length n (default: 25)")
    train.add_argument("--lr", type=_positive_float, default=0.1, help="learning rate (default: 0.1)")
    train.add_argument("--batches", type=_positive_int, default=None, help="stop after N batches (default: until Ctrl+C)")
    train.add_argument("--record-every", type=_positive_int, default=1, help="record every k-th batch (default: 1)")
    train.add_argument("--checkpoint-every", type=_nonnegative_int, default=1000, help="checkpoint every k-th batch, 0 for none (default: 1000)")
    train.add_argument("--sample-every", type=_nonnegative_int, default=500, help="generate a text sample every k-th batch, 0 for none (default: 500)")
    train.add_argument("--seed", type=_nonnegative_int, default=0, help="random seed (default: 0)")
    train.add_argument("--horizon-epsilon", type=_fraction, default=0.05, help="truncation error that defines the effective horizon (default: 0.05)")
    train.add_argument("--quiet", action="store_true", help="no progress line")

    info = sub.add_parser("info", help="summarize a session file")
    info.add_argument("session", type=Path, metavar="SESSION.h5")
    info.add_argument("--json", action="store_true", help="print a JSON object")

    render = sub.add_parser("render", help="draw the views of one recorded batch to PNG or SVG")
    render.add_argument("session", type=Path, metavar="SESSION.h5")
    render.add_argument("--batch", type=_nonnegative_int, default=None, help="recorded batch to draw (default: the last one)")
    render.add_argument("--hover-step", type=_nonnegative_int, default=None, metavar="T", help="show the horizon of the loss at step T")
    render.add_argument("--mode", choices=("magnitude", "contribution"), default="magnitude")
    render.add_argument("--horizon", type=_positive_int, default=5, metavar="K", help="loss offsets drawn as separate segments (default: 5)")
    render.add_argument("--width", type=_positive_int, default=1400)
    render.add_argument("--height", type=_positive_int, default=900)
    render.add_argument("--out", required=True, type=Path, metavar="FILE.png|FILE.svg")
    render.add_argument("--force", action="store_true", help="overwrite an existing --out file")

    compare = sub.add_parser(
        "compare", help="two or more sessions side by side: open the comparison window, or draw it with --out",
        description="Compare sessions side by side, aligned by training batch, under their overlaid horizon "
                    "profiles and effective horizon over training.",
    )
    compare.add_argument("sessions", nargs="+", type=Path, metavar="SESSION.h5",
                         help="two or more session files, e.g. the same corpus trained with rnn, lstm and gru")
    compare.add_argument("--out", type=Path, default=None, metavar="FILE.png|FILE.svg",
                         help="draw the comparison to this file instead of opening the window")
    compare.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    compare.add_argument("--batch", type=_nonnegative_int, default=None,
                         help="training batch every session is aligned on (default: the last batch all of them reached)")
    compare.add_argument("--hover-step", type=_nonnegative_int, default=None, metavar="T",
                         help="show the horizon of the loss at step T in every session")
    compare.add_argument("--profile-over", choices=("whole", "last", "around"), default="whole",
                         help="batches the horizon profile averages over: the whole training, its last 20%%, or "
                              "±500 batches around --batch (default: whole)")
    compare.add_argument("--profile-statistic", choices=("mean", "median"), default="mean",
                         help="mean: all gradient pooled; median: the typical batch's profile (default: mean)")
    compare.add_argument("--width", type=_positive_int, default=1600, help="image (or window) width (default: 1600)")
    compare.add_argument("--height", type=_positive_int, default=1000, help="image (or window) height (default: 1000)")

    from .compare_demo import PICTURE_NAME, add_arguments as add_demo_arguments

    demo = sub.add_parser(
        "demo", help="train rnn, lstm and gru on the long-range sample and compare them (a few minutes)",
        description="The comparison demo: train rnn, lstm and gru with the same settings on the bundled "
                    "long-range-dependency corpus, print what each learned (loss, effective horizon, horizon "
                    f"profile, recall), draw the comparison to DIR/{PICTURE_NAME} and open it in a window.",
    )
    add_demo_arguments(demo)

    gui = sub.add_parser("gui", help="open the window (the default command)")
    gui.add_argument("session", nargs="?", type=Path, metavar="SESSION.h5", help="a saved session to open")
    gui.add_argument("--corpus", default=None, help="preselect this corpus")
    gui.add_argument("--start", action="store_true", help="start training at once")
    gui.add_argument("--out", type=Path, default=None, help="session file to write when training")
    return parser


def _format_eta(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _stop_signals() -> list:
    """Signals that ask a headless run to stop: Ctrl+C, `kill`, a closed terminal."""
    names = ("SIGINT", "SIGTERM", "SIGHUP")
    return [getattr(signal, name) for name in names if hasattr(signal, name)]


def cmd_train(args) -> int:
    from .core.corpus import load_corpus
    from .core.config import TrainConfig
    from .core.errors import TrainingDiverged
    from .training_run import TrainingRun

    config = TrainConfig(
        cell=args.cell, hidden_size=args.hidden, seq_length=args.seq_len, learning_rate=args.lr,
        record_every=args.record_every, checkpoint_every=args.checkpoint_every, seed=args.seed,
        horizon_epsilon=args.horizon_epsilon, sample_every=args.sample_every,
    ).validate()
    out = args.out
    if out.exists() and not args.force:
        raise RnnbowError(f"{out}: already exists (use --force to overwrite it)")
    corpus = load_corpus(args.corpus, min_length=config.seq_length + 1)
    for skipped in corpus.skipped[:3]:
        print(f"{PROG}: skipped {skipped}", file=sys.stderr)
    if len(corpus.skipped) > 3:
        print(f"{PROG}: skipped {len(corpus.skipped) - 3} more files", file=sys.stderr)

    show = not args.quiet and sys.stderr is not None and sys.stderr.isatty()
    stop = {"signal": None}

    def on_signal(signum, _frame):
        stop["signal"] = signum

    # A stop request only sets a flag, checked between batches: a KeyboardInterrupt raised in the
    # middle of writing a block, or of closing the file, would leave the session half-written.
    for sig in _stop_signals():
        signal.signal(sig, on_signal)
    run = None
    start = last_print = time.monotonic()
    interrupted = False
    failure = None
    try:
        run = TrainingRun(corpus, config, out, force=args.force)
        start = last_print = time.monotonic()
        while args.batches is None or run.batch < args.batches:
            if stop["signal"] is not None:
                interrupted = True
                break
            result = run.step()
            now = time.monotonic()
            if show and now - last_print >= 0.25:
                last_print = now
                elapsed = now - start
                rate = run.batch * config.seq_length / elapsed
                line = f"batch {run.batch:,}  {rate:,.0f} chars/s  loss {result.smooth_loss:.2f}  records {run.records:,}"
                if args.batches:
                    line += f"  ETA {_format_eta((args.batches - run.batch) * elapsed / run.batch)}"
                sys.stderr.write("\r" + line.ljust(80))
                sys.stderr.flush()
    except TrainingDiverged as exc:
        failure = exc
    finally:
        if show:
            sys.stderr.write("\n")
        if run is not None:
            run.close()  # saves what is pending; does nothing after a write error
        # The work is saved; from here to exit a stop signal has nothing left to stop. Ignored, not
        # handled: at exit Python resets signals with Python handlers to the default, and a second
        # Ctrl+C arriving then (a small run closes in milliseconds) would kill the process by SIGINT.
        for sig in _stop_signals():
            signal.signal(sig, signal.SIG_IGN)
    if failure is not None:
        raise RnnbowError(
            f"{failure}; {out} keeps the {_count(run.batch, 'batch', 'batches')} before it ({_count(run.records, 'record')}). "
            "Try a smaller learning rate (--lr)."
        )
    elapsed = time.monotonic() - start
    how = "stopped" if interrupted else "done"
    print(
        f"{how}: {run.batch:,} batches in {elapsed:.1f} s, {run.records:,} records, "
        f"loss {run.last.smooth_loss if run.last else float('nan'):.3f} -> {out}"
    )
    return 0


def cmd_info(args) -> int:
    from .storage.session import Session

    with Session(args.session) as session:
        summary = session.summary()
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    c = summary["corpus"]
    lines = [
        f"{summary['path']} ({summary['cell']})",
        f"  format        rnnbow-session v{summary['format_version']} (written by {PROG} {summary['app_version']})"
        + ("" if summary["complete"] else "  [incomplete: still being written, or interrupted]"),
        f"  cell          {summary['cell']}, hidden {summary['hidden_size']}, sequence length {summary['seq_length']}, lr {summary['learning_rate']}, seed {summary['seed']}",
        f"  corpus        {c['name']}: {c['characters']:,} characters, vocabulary {c['vocab_size']}, sha256 {c['sha256'][:12]}…",
        f"  trained       {summary['batches_trained']:,} batches",
        f"  records       {summary['records']:,} (every {summary['record_every']} batch{'es' if summary['record_every'] > 1 else ''})",
        f"  checkpoints   {summary['checkpoints']:,}",
        f"  samples       {summary['samples']:,}",
    ]
    if summary["median_horizon"] is not None:
        lines.append(f"  horizon       median {summary['median_horizon']:g} steps (ε = {summary['horizon_epsilon']})")
    lines += [f"  note          {note}" for note in summary["notes"]]
    print("\n".join(lines))
    return 0


def cmd_render(args) -> int:
    from .gui.render import render_session

    render_session(
        args.session, args.out, batch=args.batch, hover_step=args.hover_step, mode=args.mode,
        horizon=args.horizon, size=(args.width, args.height), force=args.force,
    )
    print(f"wrote {args.out}")
    return 0


COMPARE_NO_DISPLAY_MESSAGE = (
    f"{PROG}: no display found; to draw the comparison without a window use: "
    f"{PROG} compare SESSION.h5 SESSION.h5 … --out FILE.png"
)


def cmd_compare(args) -> int:
    from .gui.app import has_display

    sessions = args.sessions
    if len(sessions) < 2:
        raise RnnbowError(f"comparing needs at least two session files; only {sessions[0]} given")
    options = dict(profile_over=args.profile_over, profile_statistic=args.profile_statistic, batch=args.batch,
                   hover_step=args.hover_step)
    if args.out is not None:
        from .gui.compare_render import render_comparison

        out = render_comparison(sessions, args.out, size=(args.width, args.height), force=args.force, **options)
        print(f"wrote {out}")
        return 0
    if not has_display():
        print(COMPARE_NO_DISPLAY_MESSAGE, file=sys.stderr)
        return 1
    from .gui.compare_render import check_sessions
    from .gui.compare_window import run_compare_window

    check_sessions(sessions, args.hover_step)  # one line naming the file, before any window
    return run_compare_window(sessions, size=(args.width, args.height), **options)


def cmd_demo(args) -> int:
    from .compare_demo import run

    return run(args, prog=PROG)


def cmd_gui(args) -> int:
    from .gui.app import run_app

    return run_app(session=getattr(args, "session", None), corpus=getattr(args, "corpus", None),
                   start=getattr(args, "start", False), out=getattr(args, "out", None))


def _count(number: int, singular: str, plural: str | None = None) -> str:
    """'1 record', '2,000 records'."""
    return f"{number:,} {singular if number == 1 else plural or singular + 's'}"


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


def main(argv=None) -> int:
    if sys.stdout is None:  # a windowed (console-less) frozen build
        sys.stdout = open(os.devnull, "w")
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")
    # Past a file-size limit the kernel would kill us with SIGXFSZ before we could say anything;
    # ignored, the write fails with EFBIG and the session writer reports it.
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"train": cmd_train, "info": cmd_info, "render": cmd_render, "compare": cmd_compare, "demo": cmd_demo,
                "gui": cmd_gui, None: cmd_gui}
    try:
        return handlers[args.command](args)
    except RnnbowError as exc:
        print(f"{PROG}: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`rnnbow info s.h5 | head`): nothing left to say, and nothing to say it to.
        # Python's own flush at exit would fail again, so point stdout at nothing first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell tool killed by it would report


if __name__ == "__main__":
    sys.exit(main())
