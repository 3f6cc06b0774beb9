"""`rnnbow compare`: two or more sessions side by side, in the comparison window or drawn to a picture."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.environment import has_display
from ..core.errors import Cancelled, RnnbowError
from .args import PROG, nonnegative_int, positive_int
from .progress import Progress
from .signals import StopRequests

PROGRESS_STEPS = 1000

NO_DISPLAY_MESSAGE = (
    f"{PROG}: no display found; to draw the comparison without a window use: "
    f"{PROG} compare SESSION.h5 SESSION.h5 … --out FILE.png"
)


def add_parser(sub) -> None:
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
    compare.add_argument("--batch", type=nonnegative_int, default=None,
                         help="training batch every session is aligned on (default: the last batch all of them reached)")
    compare.add_argument("--hover-step", type=nonnegative_int, default=None, metavar="T",
                         help="show the horizon of the loss at step T in every session")
    compare.add_argument("--profile-over", choices=("whole", "last", "around"), default="whole",
                         help="batches the horizon profile averages over: the whole training, its last 20%%, or "
                              "±500 batches around --batch (default: whole)")
    compare.add_argument("--profile-statistic", choices=("mean", "median"), default="mean",
                         help="mean: all gradient pooled; median: the typical batch's profile (default: mean)")
    compare.add_argument("--width", type=positive_int, default=1600, help="image (or window) width (default: 1600)")
    compare.add_argument("--height", type=positive_int, default=1000, help="image (or window) height (default: 1000)")
    compare.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    sessions = args.sessions
    if len(sessions) < 2:
        raise RnnbowError(f"comparing needs at least two session files; only {sessions[0]} given")
    options = dict(profile_over=args.profile_over, profile_statistic=args.profile_statistic, batch=args.batch,
                   hover_step=args.hover_step)
    if args.out is not None:
        from ..gui.compare.render import render_comparison

        # (c) embeds each session's checkpoints first: a progress bar, and Ctrl+C cancels before anything is written.
        with StopRequests() as stop:
            bar = Progress(PROGRESS_STEPS, "dynamics")

            def progress(fraction: float, text: str) -> None:
                if stop.requested:
                    raise Cancelled
                bar.update(int(fraction * PROGRESS_STEPS), text)

            try:
                out = render_comparison(sessions, args.out, size=(args.width, args.height), force=args.force,
                                        progress=progress, **options)
            except Cancelled:
                bar.close()
                print(f"{PROG}: cancelled; nothing written", file=sys.stderr)
                return 130
            bar.close()
        print(f"wrote {out}")
        return 0
    if not has_display():
        print(NO_DISPLAY_MESSAGE, file=sys.stderr)
        return 1
    from ..gui.compare.window import run_compare_window
    from ..storage.multi import check_sessions

    check_sessions(sessions, args.hover_step)  # one line naming the file, before any window
    return run_compare_window(sessions, size=(args.width, args.height), **options)
